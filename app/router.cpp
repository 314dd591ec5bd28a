#include "app/router.hpp"

#include <array>

namespace jobq::app {

namespace {

constexpr std::array<Route, 12> route_table = {{
    {"GET", "/healthz", RouteId::healthz, true},
    {"GET", "/readyz", RouteId::readyz, true},
    {"GET", "/metrics", RouteId::metrics, false},
    {"GET", "/stats", RouteId::stats, false},
    {"POST", "/jobs", RouteId::create_job, false},
    {"GET", "/jobs", RouteId::list_jobs, false},
    {"POST", "/createJob", RouteId::create_job_alias, false},
    {"POST", "/jobs/batch", RouteId::create_batch, false},
    {"GET", "/jobs/{id}", RouteId::get_job, false},
    {"DELETE", "/jobs/{id}", RouteId::delete_job, false},
    {"POST", "/jobs/{id}/retry", RouteId::retry_job, false},
    {"POST", "/jobs/{id}/cancel", RouteId::cancel_job, false},
}};

// Next segment of a path or pattern after a '/', advancing `rest` past it.
std::optional<std::string_view> next_segment(std::string_view& rest) {
    if (rest.empty()) return std::nullopt;
    if (rest.front() != '/') return std::nullopt;
    rest.remove_prefix(1);
    const auto end = rest.find('/');
    const auto segment = rest.substr(0, end);
    rest = end == std::string_view::npos ? std::string_view() : rest.substr(end);
    return segment;
}

// Whether `path` has the shape of `pattern`; the {…} segment, if any, goes into `param`.
bool path_matches(std::string_view pattern, std::string_view path, std::string_view& param) {
    for (;;) {
        const auto p = next_segment(pattern);
        const auto s = next_segment(path);
        if (!p || !s) return !p && !s && pattern.empty() && path.empty();
        if (p->starts_with('{')) {
            if (s->empty()) return false;
            param = *s;
        } else if (*p != *s) {
            return false;
        }
    }
}

}  // namespace

std::span<const Route> routes() { return route_table; }

RouteMatch match_route(std::string_view method, std::string_view path) {
    // A literal pattern wins over one with a {param}: "/jobs/batch" is not job "batch".
    bool literal_matches = false;
    for (const auto& route : route_table) {
        std::string_view param;
        if (path_matches(route.pattern, path, param) && param.empty()) literal_matches = true;
    }
    RouteMatch match;
    for (const auto& route : route_table) {
        std::string_view param;
        if (!path_matches(route.pattern, path, param) || (literal_matches && !param.empty())) continue;
        if (route.method == method) return {&route, param, {}};
        if (!match.allowed.empty()) match.allowed += ", ";
        match.allowed += route.method;
    }
    return match;
}

}  // namespace jobq::app
