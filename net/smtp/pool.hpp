#pragma once
// Connections to one SMTP server, reused across messages: at most `size` open at once;
// a session is retired after `max_messages` or when idle longer than `idle_timeout`; one
// idle for more than a second is checked with NOOP before reuse (a session is always
// left outside a transaction: RSET follows a failed one); a broken session is discarded
// and the message tried once more on a new connection. An optional rate limit spaces messages evenly
// (they wait; they do not fail).
//
// Each place in the pool is a token held by the connection that uses it, so the count of
// open connections stays right however a send ends: a run cancelled at any await
// (connecting, the greeting, TLS, the NOOP probe, DATA) destroys its connection, and the
// place with it. A send waits for a free place at most `acquire_timeout`.
//
// Thread-safe: send() may run on many strands at once (each job run has its own). The
// books are kept under a mutex that is never held across an await; a connection's I/O
// runs on the executor of the send that uses it.

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
    std::chrono::milliseconds acquire_timeout{60'000};  // waiting for a free place
    double rate_limit = 0;  // messages per second; 0: none
};

class Pool {
public:
    // Loads the CA file now (throws when it cannot be loaded), not on the first message.
    // `executor`: where the pool's own work runs (closing idle connections).
    Pool(boost::asio::any_io_executor executor, ServerOptions server, PoolOptions options);
    ~Pool();
    Pool(const Pool&) = delete;
    Pool& operator=(const Pool&) = delete;

    // A value once the server accepted the message.
    boost::asio::awaitable<Result<void>> send(const Envelope& envelope);

    // Places taken now: connections idle, in use, being opened or being closed.
    std::size_t open_connections() const;

private:
    // What outlives the pool while a connection is still closing: the places, the idle
    // connections and the TLS context the connections' streams were made from.
    struct Books;
    class Place;
    class Waiting;

    // An idle connection (checked) or a new one; `fresh`: a new one.
    boost::asio::awaitable<Connection::Opened> acquire(bool fresh);
    boost::asio::awaitable<Connection::Opened> open_new(std::shared_ptr<Place> place);
    void release(std::unique_ptr<Connection> connection);
    boost::asio::awaitable<void> wait_for_rate();

    ServerOptions server_;
    PoolOptions options_;
    std::shared_ptr<Books> books_;
};

}  // namespace jobq::net::smtp
