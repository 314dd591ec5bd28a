#pragma once
// The REST API: maps HTTP requests onto the job store, the engine and the metrics.
// Thread-safe: handle() may run on any connection's strand at once.

#include "app/router.hpp"
#include "core/engine.hpp"
#include "core/handler_registry.hpp"
#include "core/job_admin.hpp"
#include "core/job_store.hpp"
#include "core/metrics.hpp"
#include "net/http_types.hpp"

#include <boost/asio/awaitable.hpp>

#include <atomic>
#include <cstddef>
#include <string>

namespace jobq::app {

struct ApiOptions {
    std::string api_token;                  // empty: no authentication
    std::size_t max_pending_writes = 10'000;  // jobs waiting for a commit before 429
    bool access_log = true;
};

class Api {
public:
    // `metrics` may be null (not counted).
    Api(core::JobStore& store, core::JobAdmin& admin, core::Engine& engine, const core::HandlerRegistry& handlers,
        core::Metrics* metrics, ApiOptions options, core::Clock clock);

    boost::asio::awaitable<net::HttpResponse> handle(net::HttpRequest request);

    // After this, submissions and /readyz are answered 503 (the server is shutting down).
    void start_draining() { draining_ = true; }

private:
    // A response, and the job it concerns for the access log (0: none).
    struct Answer {
        net::HttpResponse response;
        core::job_id job = 0;
    };

    boost::asio::awaitable<Answer> dispatch(const RouteMatch& match, const net::HttpRequest& request);
    boost::asio::awaitable<Answer> create_job(const net::HttpRequest& request);
    boost::asio::awaitable<Answer> create_batch(const net::HttpRequest& request);
    boost::asio::awaitable<Answer> list_jobs(std::string_view query);
    boost::asio::awaitable<Answer> get_job(core::job_id id);
    boost::asio::awaitable<Answer> change_job(RouteId route, core::job_id id);
    boost::asio::awaitable<Answer> stats();
    boost::asio::awaitable<Answer> metrics();
    boost::asio::awaitable<Answer> readyz();

    bool authorized(const net::HttpRequest& request) const;
    void record(const net::HttpRequest& request, const Route* route, const Answer& answer,
                std::chrono::steady_clock::duration took);

    // Admission in front of group commit: reserves `jobs` places or answers why not.
    class WriteAdmission;

    core::JobStore& store_;
    core::JobAdmin& admin_;
    core::Engine& engine_;
    const core::HandlerRegistry& handlers_;
    core::Metrics* metrics_;
    ApiOptions options_;
    core::Clock clock_;
    std::atomic<bool> draining_{false};
    std::atomic<std::size_t> pending_writes_{0};
};

}  // namespace jobq::app
