#include "app/router.hpp"

#include <optional>
#include <stdexcept>

namespace jobq::app {

namespace {

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

void RouteTable::add(Route route) {
    if (!route.handler) throw std::logic_error("route without a handler: " + std::string(route.pattern));
    for (const auto& r : routes_)
        if (r.method == route.method && r.pattern == route.pattern)
            throw std::logic_error("route added twice: " + std::string(route.method) + " " + std::string(route.pattern));
    if (route.label.empty()) route.label = route.pattern;
    routes_.push_back(route);
}

RouteMatch RouteTable::match(std::string_view method, std::string_view path) const {
    bool literal_matches = false;
    for (const auto& route : routes_) {
        std::string_view param;
        if (path_matches(route.pattern, path, param) && param.empty()) literal_matches = true;
    }
    RouteMatch match;
    for (const auto& route : routes_) {
        std::string_view param;
        if (!path_matches(route.pattern, path, param) || (literal_matches && !param.empty())) continue;
        if (route.method == method) return {&route, param, {}};
        if (!match.allowed.empty()) match.allowed += ", ";
        match.allowed += route.method;
    }
    return match;
}

}  // namespace jobq::app
