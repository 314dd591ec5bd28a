#include "app/api.hpp"

#include "app/api/routes.hpp"
#include "app/api/toolkit.hpp"
#include "core/log.hpp"

#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <boost/asio/ip/address.hpp>

#include <openssl/crypto.h>

#include <algorithm>
#include <cctype>
#include <charconv>

namespace jobq::app {

namespace asio = boost::asio;
namespace json = boost::json;
using net::HttpResponse;

namespace {

struct Status {
    unsigned code;
    const char* header = nullptr;  // a header the status requires, and its value
    const char* value = nullptr;
};

Status status_of(const boost::system::error_code& code) {
    if (code.category() != core::jobq_category()) return {500};
    switch (static_cast<core::errc>(code.value())) {
        case core::errc::invalid: return {400};
        case core::errc::unauthorized: return {401, "WWW-Authenticate", "Bearer"};
        case core::errc::forbidden: return {403};
        case core::errc::not_found: return {404};
        case core::errc::method_not_allowed: return {405};  // Allow: added by the router's answer
        case core::errc::conflict:
        case core::errc::lease_lost: return {409};
        case core::errc::too_large: return {413};
        case core::errc::unsupported_media_type: return {415};
        case core::errc::busy: return {429, "Retry-After", "1"};
        case core::errc::unavailable: return {503};
    }
    return {500};
}

// The token is compared in constant time (OpenSSL's CRYPTO_memcmp), so the time taken
// does not reveal how much of a guess was right. Lengths are compared first, as
// CRYPTO_memcmp needs: that gives away the token's length only.
bool token_matches(std::string_view given, std::string_view token) {
    return given.size() == token.size() && CRYPTO_memcmp(given.data(), token.data(), token.size()) == 0;
}

// --- requests a browser sends for another site

bool iequal(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
        return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
    });
}

// "127.0.0.1:8080" -> "127.0.0.1", "[::1]:8080" -> "::1", "Localhost." -> "localhost";
// nullopt for a Host that is not a name with an optional port.
std::optional<std::string> host_name(std::string_view host) {
    std::string_view name = host;
    if (host.starts_with('[')) {
        const auto end = host.find(']');
        if (end == std::string_view::npos) return std::nullopt;
        const auto rest = host.substr(end + 1);
        if (!rest.empty() && !rest.starts_with(':')) return std::nullopt;
        name = host.substr(1, end - 1);
    } else {
        name = host.substr(0, host.find(':'));
    }
    if (name.ends_with('.')) name.remove_suffix(1);  // "localhost." is localhost
    std::string lower(name);
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return lower;
}

// localhost, a loopback address (127.0.0.0/8, ::1), or a name the operator allowed. An
// address is parsed whole: "127.0.0.1.example" is a name (a rebinding page's), not an address.
bool answers_to(std::string_view host, const std::vector<std::string>& allowed) {
    const auto name = host_name(host);
    if (!name) return false;
    if (*name == "localhost" || std::find(allowed.begin(), allowed.end(), *name) != allowed.end()) return true;
    boost::system::error_code not_an_address;
    const auto address = boost::asio::ip::make_address(*name, not_an_address);
    return !not_an_address && address.is_loopback();
}

// A browser says where a request comes from: Sec-Fetch-Site (current browsers) or Origin.
// A write is accepted from this server's own pages ("same-origin"), or from no page at all
// ("none": typed in, a bookmark; or a client that is not a browser and sends neither).
bool cross_site_write(const net::HttpRequest& request) {
    if (request.method == "GET" || request.method == "HEAD") return false;
    if (!request.sec_fetch_site.empty())
        return request.sec_fetch_site != "same-origin" && request.sec_fetch_site != "none";
    if (request.origin.empty()) return false;
    const auto scheme_end = request.origin.find("://");
    if (scheme_end == std::string::npos) return true;  // "null": a sandboxed or opaque origin
    return !iequal(std::string_view(request.origin).substr(scheme_end + 3), request.host);
}

}  // namespace

// Refused before any route: a page of another site cannot make a user's browser change
// jobs (a form or fetch POSTed to localhost), and on a loopback-only server a page whose
// name was rebound to 127.0.0.1 cannot read it either (DNS rebinding).
std::optional<core::Error> Api::refused_by_origin(const net::HttpRequest& request, Grant grant) const {
    if (grant == Grant::probe) return std::nullopt;  // a liveness probe may name any host
    const auto& options = context_.options;
    if (options.loopback_only && !request.host.empty() && !answers_to(request.host, options.allowed_hosts))
        return core::make_error(core::errc::forbidden,
                                "this server listens on loopback and answers requests to localhost, a loopback "
                                "address or a name in --allowed-hosts only",
                                "unknown_host");
    if (cross_site_write(request))
        return core::make_error(core::errc::forbidden, "a change requested by another site's page is refused",
                                "cross_site");
    return std::nullopt;
}

HttpResponse error_response(const core::Error& error) {
    const Status status = status_of(error.code);
    HttpResponse r;
    r.status = status.code;
    // A 500 is a bug: its message is for the log, not the client.
    const std::string code = status.code == 500 ? "internal_error" : error.code_name();
    const std::string message = status.code == 500 ? "internal error" : error.message;
    r.body = json::serialize(json::object{{"error", json::object{{"code", code}, {"message", message}}}});
    if (status.header) r.headers.emplace_back(status.header, status.value);
    return r;
}

Api::Api(ApiStores stores, core::JobNotifier& notifier, const core::LoopHealth& loops,
         const core::HandlerRegistry& handlers, core::Metrics* metrics, ApiOptions options, core::Clock clock)
    : routes_(api_routes()),
      context_{stores, notifier, loops, handlers, metrics, std::move(options), std::move(clock), {}, {}, {}, {}} {}

asio::awaitable<HttpResponse> Api::handle(net::HttpRequest request) {
    const auto started = std::chrono::steady_clock::now();
    const RouteMatch match = routes_.match(request.method, path_of(request.target));
    Answer answer = co_await dispatch(match, request);
    HttpResponse response = answer.result ? std::move(*answer.result) : error_response(answer.result.error());
    const std::string_view route = match.route ? match.route->label : "unmatched";
    record(request, route, response, answer.job, std::chrono::steady_clock::now() - started);
    co_return response;
}

asio::awaitable<Answer> Api::dispatch(const RouteMatch& match, const net::HttpRequest& request) {
    if (!match.route && !match.allowed.empty()) {
        auto response = error_response(core::make_error(
            core::errc::method_not_allowed, "method not allowed; allowed: " + match.allowed, "method_not_allowed"));
        response.headers.emplace_back("Allow", match.allowed);
        co_return response;
    }
    if (auto refused = refused_by_origin(request, match.route ? match.route->grant : Grant::api))
        co_return std::move(*refused);
    if (!match.route)
        co_return core::make_error(core::errc::not_found,
                                   "no route for " + std::string(path_of(request.target)), "not_found");
    const Access granted = access(request, match.route->grant);
    switch (granted) {
        case Access::granted:
        case Access::granted_to_worker: break;
        case Access::no_token:
            co_return core::make_error(core::errc::unauthorized, "a valid Authorization: Bearer token is required",
                                       "unauthorized");
        case Access::forbidden:
            co_return core::make_error(core::errc::forbidden, "the worker token grants only the lease routes",
                                       "forbidden");
    }
    const StoreFailureLog how{.route = match.route->label, .job = match.id};
    auto answer = co_await unless_store_fails(
        match.route->handler(context_, {request, match.id, granted == Access::granted_to_worker}), how);
    if (!answer) co_return answer.error();
    co_return std::move(*answer);
}

Api::Access Api::access(const net::HttpRequest& request, Grant grant) const {
    if (grant == Grant::open || grant == Grant::probe) return Access::granted;
    const auto& options = context_.options;
    constexpr std::string_view scheme = "Bearer ";
    const std::string_view header = request.authorization;
    const bool bearer = header.starts_with(scheme);
    const std::string_view token = bearer ? header.substr(scheme.size()) : std::string_view();
    if (bearer && !options.api_token.empty() && token_matches(token, options.api_token)) return Access::granted;
    if (bearer && !options.worker_token.empty() && token_matches(token, options.worker_token))
        return grant == Grant::api ? Access::forbidden : Access::granted_to_worker;
    // No token this server knows: the routes no token guards stay open.
    if (!options.api_token.empty()) return Access::no_token;
    if (grant == Grant::lease && !options.worker_token.empty()) return Access::no_token;
    return Access::granted;
}

namespace {
constexpr std::string_view long_poll_route = "/leases";
}  // namespace

void Api::record(const net::HttpRequest& request, std::string_view route, const HttpResponse& response,
                 core::job_id job, std::chrono::steady_clock::duration took) {
    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(took).count();
    if (context_.metrics) {
        context_.metrics->http_requests.at({std::string(route), std::to_string(response.status)}).add();
        // A long poll's time is mostly its wait for a job, not work: left out, so that the
        // histogram stays the latency of serving requests.
        if (route != long_poll_route) context_.metrics->http_request_duration.observe(static_cast<std::uint64_t>(us));
    }
    if (!context_.options.access_log || !core::log::enabled(core::log::Level::info)) return;
    char duration[32];
    const auto end = std::to_chars(duration, duration + sizeof duration, static_cast<double>(us) / 1000.0,
                                   std::chars_format::fixed, 3).ptr;
    // Never the payload, the query string or the Authorization header.
    if (job)
        core::log::write_batched(core::log::Level::info, "request",
                                 {{"method", request.method},
                                  {"route", std::string(route)},
                                  {"status", std::to_string(response.status)},
                                  {"duration_ms", std::string(duration, end)},
                                  {"job", std::to_string(job)}});
    else
        core::log::write_batched(core::log::Level::info, "request",
                                 {{"method", request.method},
                                  {"route", std::string(route)},
                                  {"status", std::to_string(response.status)},
                                  {"duration_ms", std::string(duration, end)}});
}

}  // namespace jobq::app
