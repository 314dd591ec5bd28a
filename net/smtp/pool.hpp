#pragma once
// Connections to one SMTP server, reused across messages: at most `size` open at once;
// a session is retired after `max_messages` or when idle longer than `idle_timeout`; one
// idle for more than a second is checked with NOOP before reuse (a session is always
// left outside a transaction: RSET follows a failed one); a broken session is discarded
// and the message tried once more on a new connection. An optional rate limit spaces messages evenly
// (they wait; they do not fail).
//
// Not thread-safe: use it from one strand (the engine's), where every caller runs.

#include "net/smtp/client.hpp"

#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <deque>
#include <memory>

namespace jobq::net::smtp {

struct PoolOptions {
    std::size_t size = 8;
    std::uint64_t max_messages = 100;  // per connection
    std::chrono::milliseconds idle_timeout{30'000};
    double rate_limit = 0;  // messages per second; 0: none
};

class Pool {
public:
    Pool(boost::asio::any_io_executor executor, ServerOptions server, PoolOptions options);

    // nullopt once the server accepted the message.
    boost::asio::awaitable<std::optional<Failure>> send(const Envelope& envelope);

    // Connections open now, idle or in use.
    std::size_t open_connections() const { return open_; }

private:
    struct Idle {
        std::unique_ptr<Connection> connection;
        std::chrono::steady_clock::time_point since;
    };

    // An idle connection (checked) or a new one; `fresh`: a new one.
    boost::asio::awaitable<Connection::Opened> acquire(bool fresh);
    void release(std::unique_ptr<Connection> connection);
    void retire(std::unique_ptr<Connection> connection);
    // Closes idle connections as their idle timeout passes, while there are any.
    boost::asio::awaitable<void> retire_idle();
    boost::asio::awaitable<void> wait_for_rate();

    boost::asio::any_io_executor executor_;
    ServerOptions server_;
    PoolOptions options_;
    boost::asio::ssl::context tls_;
    std::deque<Idle> idle_;
    std::size_t open_ = 0;                  // idle and in use
    boost::asio::steady_timer slot_freed_;  // waiters for a connection; one is woken per release
    std::chrono::steady_clock::time_point next_send_{};
    bool retiring_idle_ = false;
};

}  // namespace jobq::net::smtp
