#pragma once
// The client commands' way to jobq's HTTP API: the server's URL and a token, over net/'s
// HTTP client. A reply is whatever the server answered, any status; a failure means the
// server could not be reached (refused, reset, timed out), which the commands exit 3 for.

#include "net/failure.hpp"
#include "net/http_client.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace jobq::app::cli {

struct Endpoint {
    net::http::Origin origin;
    std::string base_path;  // without a trailing '/': "" or "/jobq"
    std::string token;      // sent as Authorization: Bearer; empty: none
};

// `http://host[:port][/base]` or `https://...`; an error message for anything else.
std::variant<Endpoint, std::string> parse_endpoint(std::string_view url);

struct Reply {
    unsigned status = 0;
    std::string body;

    bool ok() const { return status >= 200 && status < 300; }
    // "message (code, HTTP 409)" from the API's JSON error body, or the status alone.
    std::string error_text() const;
};

using CallResult = net::Result<Reply>;

class ApiClient {
public:
    ApiClient(boost::asio::any_io_executor executor, Endpoint endpoint, std::chrono::milliseconds timeout);

    // `target` starts with '/' and is relative to the base path; a body is sent as JSON.
    boost::asio::awaitable<CallResult> call(std::string method, std::string target, std::string body = {});

    // "http://host:port/base", for messages (never the token).
    std::string endpoint_text() const;

private:
    Endpoint endpoint_;
    net::http::Client http_;
};

// One request at a time, each run to completion on a private io_context: for the commands
// that make a request or a few and print the answer.
class BlockingApiClient {
public:
    BlockingApiClient(Endpoint endpoint, std::chrono::milliseconds timeout);
    ~BlockingApiClient();

    CallResult call(std::string method, std::string target, std::string body = {});

private:
    boost::asio::io_context io_;
    std::unique_ptr<ApiClient> client_;
};

}  // namespace jobq::app::cli
