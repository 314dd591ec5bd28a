#pragma once
// The REST API: authenticates a request, dispatches it through the route table
// (app/api/routes.hpp; each resource's handlers live in app/api/<resource>.cpp), writes
// the access log and the request metrics, and turns every error into its response — the
// one place an errc becomes an HTTP status.
// Thread-safe: handle() may run on any connection's strand at once.

#include "app/api/context.hpp"
#include "app/router.hpp"
#include "net/http_types.hpp"

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <optional>

namespace jobq::app {

class Api {
public:
    // `metrics` may be null (not counted). Every reference must outlive the Api.
    Api(ApiStores stores, core::JobNotifier& notifier, const core::LoopHealth& loops,
        const core::HandlerRegistry& handlers, core::Metrics* metrics, ApiOptions options, core::Clock clock);

    boost::asio::awaitable<net::HttpResponse> handle(net::HttpRequest request);

    // After this, submissions and /readyz are answered 503 (the server is shutting down).
    // Submissions are refused from now on; long polls for leases answer at once.
    void start_draining() {
        context_.draining = true;
        if (context_.options.lease_wakeups) context_.options.lease_wakeups->close();
    }

private:
    boost::asio::awaitable<Answer> dispatch(const RouteMatch& match, const net::HttpRequest& request);
    enum class Access { granted, granted_to_worker, no_token, forbidden };
    Access access(const net::HttpRequest& request, Grant grant) const;
    std::optional<core::Error> refused_by_origin(const net::HttpRequest& request, Grant grant) const;
    void record(const net::HttpRequest& request, std::string_view route, const net::HttpResponse& response,
                core::job_id job, std::chrono::steady_clock::duration took);

    const RouteTable& routes_;
    ApiContext context_;
};

// The response for an error: its status from its errc (invalid 400, unauthorized 401 with
// WWW-Authenticate, forbidden 403, not_found 404, method_not_allowed 405, conflict and
// lease_lost 409, too_large 413, unsupported_media_type 415, busy 429 with Retry-After,
// unavailable 503; anything else 500, its message withheld) and the body
// {"error":{"code":"<name>","message":"..."}}.
net::HttpResponse error_response(const core::Error& error);

}  // namespace jobq::app
