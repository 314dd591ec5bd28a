#pragma once
// The route table: every method and path the API answers, in one place, so that the
// OpenAPI document can be checked against it and a 405 can name the allowed methods.

#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace jobq::app {

enum class RouteId {
    healthz,
    readyz,
    metrics,
    stats,
    create_job,
    create_job_alias,  // POST /createJob, the seed's name
    create_batch,
    list_jobs,
    get_job,
    retry_job,
    cancel_job,
    delete_job,
};

struct Route {
    std::string_view method;
    std::string_view pattern;  // "/jobs/{id}": a {name} segment matches one non-empty segment
    RouteId id;
    bool open;  // answered without the API token (probes)
};

std::span<const Route> routes();

struct RouteMatch {
    const Route* route = nullptr;  // null: no route for this method and path
    std::string_view id;           // the {id} segment, when the pattern has one
    std::string allowed;           // when only the method is wrong: "GET, DELETE"
};

RouteMatch match_route(std::string_view method, std::string_view path);

}  // namespace jobq::app
