#pragma once
// Plain request and response values, so routing code never includes Beast.

#include <boost/asio/awaitable.hpp>

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace jobq::net {

struct HttpRequest {
    std::string method;  // "GET", "POST", ...
    std::string target;  // path and query, as sent
    std::string content_type;
    std::string authorization;  // the Authorization header; never logged
    std::string body;
    // What a browser says about where a request comes from (empty when absent): the API
    // refuses cross-site writes and, on loopback, hosts that are not loopback names.
    std::string host{};
    std::string origin{};
    std::string sec_fetch_site{};
    std::string if_none_match{};  // a cached asset's validator

    // Set by the server for each request (null elsewhere): whether the client has closed
    // its end of the connection, asked of `connection` on the request's own executor.
    bool (*peer_gone)(void* connection) = nullptr;
    void* connection = nullptr;

    // True once the client has closed its end (or the connection failed): a handler that
    // waits long (a long poll) asks before doing work whose answer nobody would read.
    bool client_gone() const { return peer_gone && peer_gone(connection); }
};

struct HttpResponse {
    unsigned status = 200;
    std::string body;
    // A literal (static storage): responses name one of a few fixed types, and a string
    // would allocate for this one on every response (16 characters: past the short-string
    // buffer).
    std::string_view content_type = "application/json";
    std::vector<std::pair<std::string, std::string>> headers;

    // A response that goes on (server-sent events): when set, `body` is ignored, the head
    // is written at once without a length, and each string `stream` gives is written as it
    // comes, until it gives nullopt, the client leaves, a write passes the request timeout
    // or the server stops. The connection then closes. Each call may wait (that is its
    // cadence); it is called again only after its last string was written.
    std::function<boost::asio::awaitable<std::optional<std::string>>()> stream;
};

}  // namespace jobq::net
