#pragma once
// An HTTP/1.1 client for outgoing requests (webhooks). Keep-alive connections are pooled
// per origin (scheme, host, port). HTTPS verifies the certificate chain (the system's
// store or a CA file) and the host name, and sends SNI. One deadline covers resolving,
// connecting, the handshake, the request and the response. The response body is read up
// to a cap, its first bytes kept and the rest discarded; redirects are not followed. No
// connection is made to an address in a denied range (the egress guard), whatever the
// name resolved from.
//
// Failures come back as values (net::Result), never as exceptions. Thread-safe: send()
// may run on many strands at once (each job run has its own); the idle connections are
// kept under a mutex never held across an await. Beast stays in http_client.cpp.

#include "net/cidr.hpp"
#include "net/failure.hpp"
#include "net/resolver.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace boost::asio::ssl {
class context;
}

namespace jobq::net::http {

struct ClientOptions {
    std::chrono::milliseconds timeout{10'000};  // the whole exchange, connecting included
    std::string ca_file;                        // PEM certificates to trust; empty: the system's store
    std::vector<Cidr> deny;                     // never connect to these addresses
    std::size_t max_idle_per_origin = 64;
    std::chrono::milliseconds idle_timeout{30'000};  // an idle pooled connection is closed after this
    std::size_t max_body_bytes = 1 << 20;            // read (and discarded) beyond this: connection closed
    std::size_t body_prefix_bytes = 256;             // kept for the caller
    std::string user_agent = "jobq";
};

struct Origin {
    bool https = false;
    std::string host;  // a name or an address (IPv6 without brackets)
    std::uint16_t port = 80;
};

struct Request {
    Origin origin;
    std::string method = "POST";
    std::string target = "/";
    std::vector<std::pair<std::string, std::string>> headers;  // Host and Content-Length are added
    std::string body;
};

struct Response {
    unsigned status = 0;
    std::string reason;
    std::string retry_after;  // the Retry-After header, empty when absent
    std::string body_prefix;  // the first body_prefix_bytes of the body
};

class Client {
public:
    Client(boost::asio::any_io_executor executor, ClientOptions options);
    ~Client();
    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;

    // The response, whatever its status; or a Failure, permanent only when the egress guard
    // refused every address (timeouts, resets and TLS errors may succeed later).
    boost::asio::awaitable<Result<Response>> send(const Request& request);

    // Connections opened since the client was made (for tests and metrics).
    std::uint64_t connections_opened() const { return opened_.load(std::memory_order_relaxed); }

private:
    class Connection;
    using Key = std::string;  // "https://host:port"
    // The idle connections, shared with the coroutine that closes them as they expire.
    struct IdlePool;

    boost::asio::awaitable<Result<std::unique_ptr<Connection>>> open(const Origin& origin,
                                                                     std::chrono::steady_clock::time_point deadline);
    std::unique_ptr<Connection> take_idle(const Key& key);
    void release(const Key& key, std::unique_ptr<Connection> connection);

    boost::asio::any_io_executor executor_;
    ClientOptions options_;
    std::unique_ptr<boost::asio::ssl::context> tls_;
    Resolver resolver_;
    std::shared_ptr<IdlePool> idle_;
    std::atomic<std::uint64_t> opened_{0};
};

}  // namespace jobq::net::http
