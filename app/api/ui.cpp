// The dashboard: GET /ui/ and its assets, embedded in the binary (app/ui_assets.hpp). They
// load without a token; the page then asks for one when the API wants it. Every response
// carries a Content-Security-Policy that allows scripts, styles and connections to this
// server only (no inline script or style, no eval, no framing), so that a job's data,
// which the page shows only as text, could not run even if it were ever taken for markup.

#include "app/api/routes.hpp"
#include "app/api/toolkit.hpp"
#include "app/ui_assets.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace jobq::app {

namespace asio = boost::asio;

namespace {

constexpr std::string_view content_security_policy =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

// A validator per file, so that a browser asks again (no-cache) and gets a 304 rather
// than the file while the binary is the same: FNV-1a of its bytes, computed on first use.
std::string etag_of(std::string_view body) {
    std::uint64_t hash = 14695981039346656037ull;
    for (const unsigned char byte : body) hash = (hash ^ byte) * 1099511628211ull;
    char text[24];
    std::snprintf(text, sizeof text, "\"%016llx\"", static_cast<unsigned long long>(hash));
    return text;
}

const std::vector<std::string>& etags() {
    static const std::vector<std::string> tags = [] {
        std::vector<std::string> out;
        for (const auto& asset : ui_assets()) out.push_back(etag_of(asset.body));
        return out;
    }();
    return tags;
}

void add_security_headers(net::HttpResponse& response) {
    response.headers.emplace_back("Content-Security-Policy", content_security_policy);
    response.headers.emplace_back("X-Frame-Options", "DENY");
    response.headers.emplace_back("X-Content-Type-Options", "nosniff");
    response.headers.emplace_back("Referrer-Policy", "no-referrer");
    // The assets change with the binary: the browser asks again rather than keep an old one.
    response.headers.emplace_back("Cache-Control", "no-cache");
}

Answer asset_response(std::string_view name, std::string_view if_none_match) {
    const auto assets = ui_assets();
    const auto found = std::find_if(assets.begin(), assets.end(), [&](const UiAsset& a) { return a.name == name; });
    if (found == assets.end())
        return core::make_error(core::errc::not_found, "no dashboard file " + std::string(name), "not_found");
    const std::string& etag = etags()[static_cast<std::size_t>(found - assets.begin())];
    net::HttpResponse response;
    response.headers.emplace_back("ETag", etag);
    add_security_headers(response);
    if (if_none_match == "*" || if_none_match.find(etag) != std::string_view::npos) {
        response.status = 304;
        return response;
    }
    response.body = found->body;
    response.content_type = found->content_type;
    return response;
}

asio::awaitable<Answer> index(ApiContext&, RouteRequest request) {
    co_return asset_response("index.html", request.http.if_none_match);
}

asio::awaitable<Answer> asset(ApiContext&, RouteRequest request) {
    co_return asset_response(request.id, request.http.if_none_match);
}

// "/ui" without its slash: the page's relative links need the slash.
asio::awaitable<Answer> to_index(ApiContext&, RouteRequest) {
    net::HttpResponse response;
    response.status = 308;
    response.headers.emplace_back("Location", "ui/");  // relative: also right behind a proxy's prefix
    add_security_headers(response);
    co_return response;
}

}  // namespace

void add_ui_routes(RouteTable& table) {
    table.add({.method = "GET", .pattern = "/ui", .handler = to_index, .grant = Grant::open});
    table.add({.method = "GET", .pattern = "/ui/", .handler = index, .grant = Grant::open});
    table.add({.method = "GET", .pattern = "/ui/{asset}", .handler = asset, .grant = Grant::open});
}

}  // namespace jobq::app
