#pragma once
// HTTP/1.1 server (Beast, coroutines): one coroutine per connection on its own strand,
// keep-alive and pipelining, a fresh parser per request with explicit body and header
// limits, timeouts on every read and write.
//
// Every wait on the peer has a deadline: idle (between requests), header (a slow client
// sending headers byte by byte is cut off), request (body, response).
//
// Protocol errors are answered here (400 malformed, 413 body too large, 431 headers too
// large) with a JSON error body and the connection closed; everything else goes to the
// RequestHandler. Thread-safe: stop_accepting() may be called from any thread.

#include "net/http_types.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace jobq::net {

using RequestHandler = std::function<boost::asio::awaitable<HttpResponse>(HttpRequest)>;

struct HttpServerOptions {
    std::string bind_address = "127.0.0.1";
    std::uint16_t port = 8080;
    std::size_t max_body_bytes = 1 << 20;
    std::size_t max_header_bytes = 16 << 10;
    std::size_t max_connections = 10'000;              // beyond it a connection gets 503 and is closed
    std::chrono::milliseconds idle_timeout{60'000};     // waiting for the next request on a connection
    std::chrono::milliseconds header_timeout{10'000};   // first byte to the end of the headers
    std::chrono::milliseconds request_timeout{30'000};  // reading the body; writing the response
};

class HttpServer {
public:
    // Binds and listens at once; throws boost::system::system_error when it cannot.
    HttpServer(boost::asio::io_context& io, HttpServerOptions options, RequestHandler handler);
    ~HttpServer();
    HttpServer(const HttpServer&) = delete;
    HttpServer& operator=(const HttpServer&) = delete;

    std::uint16_t port() const;
    void start();

    // Closes the listening socket; open connections close after their current response.
    void stop_accepting();

    // Requests being handled now (read, not yet answered).
    std::size_t active_requests() const;

    // Streamed responses still being written (HttpResponse::stream). Each ends at its next
    // string once stop_accepting() was called.
    std::size_t active_streams() const;

private:
    struct State;
    std::shared_ptr<State> state_;
};

}  // namespace jobq::net
