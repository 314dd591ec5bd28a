#pragma once
// The route table: every method and path the API answers, each with its handler, in one
// place, so that a 405 can name the allowed methods and the OpenAPI document can be
// checked against it. Each resource file (app/api/<resource>.cpp) adds its own routes;
// nothing here names a resource.
//
// Filled once at start-up and read-only afterwards: match() and routes() are then safe
// from any thread.

#include "core/error.hpp"
#include "core/job.hpp"
#include "net/http_types.hpp"

#include <boost/asio/awaitable.hpp>

#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace jobq::app {

struct ApiContext;  // app/api/context.hpp

// What a route handler is given: the request, and the {id} segment of its path when the
// pattern has one. The request outlives the handler's coroutine.
struct RouteRequest {
    const net::HttpRequest& http;
    std::string_view id;
    bool by_worker = false;  // granted by the worker token: it may read external jobs only
};

// What a route handler answers: a response, or an error the API turns into one (in one
// place: app/api.cpp); and the job it concerns, for the access log (0: none).
// Implicit from either, so a handler can `co_return json_response(...)` or `co_return
// result.error()`.
struct Answer {
    Answer(net::HttpResponse response, core::job_id job = 0) : result(std::move(response)), job(job) {}
    Answer(core::Error error, core::job_id job = 0)
        : result(boost::system::in_place_error, std::move(error)), job(job) {}

    core::Result<net::HttpResponse> result;
    core::job_id job = 0;
};

// A coroutine answering one route. A StorageError it throws is answered by the API
// (503 storage_unavailable); every input-dependent failure is an Answer with an error.
using RouteHandler = boost::asio::awaitable<Answer> (*)(ApiContext&, RouteRequest);

// Which tokens a route takes (--api-token, --worker-token).
enum class Grant {
    api,          // the API token, when one is set
    open,         // none (the dashboard's files)
    probe,        // none, and any Host (the health probes)
    lease,        // the lease routes: the API or the worker token; one of them when either is set
    worker_read,  // reading a job: the API token when set, and the worker token too
};

struct Route {
    std::string_view method;
    std::string_view pattern;  // "/jobs/{id}": a {name} segment matches one non-empty segment
    RouteHandler handler = nullptr;
    Grant grant = Grant::api;
    std::string_view label = {};  // the route in metrics and the access log; empty: the pattern
};

struct RouteMatch {
    const Route* route = nullptr;  // null: no route for this method and path
    std::string_view id;           // the {id} segment, when the pattern has one
    std::string allowed;           // when only the method is wrong: "GET, DELETE"
};

class RouteTable {
public:
    // Throws std::logic_error (a bug) when the method and pattern are taken already, or
    // the route has no handler. Routes of one path are listed in Allow in the order added.
    void add(Route route);

    std::span<const Route> routes() const { return routes_; }

    // A literal segment wins over a {param} one: "/jobs/batch" is not job "batch".
    RouteMatch match(std::string_view method, std::string_view path) const;

private:
    std::vector<Route> routes_;
};

}  // namespace jobq::app
