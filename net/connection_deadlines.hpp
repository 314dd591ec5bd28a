#pragma once
// Deadlines for every open connection, enforced by one sweeping timer instead of a timer
// armed and cancelled around each read and write. With per-operation timers every request
// costs two timer-queue insertions and two cancellation completions; here it costs a store
// to an atomic. Deadlines are enforced within one sweep interval, a fraction of the
// shortest timeout.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <unordered_map>

namespace jobq::net {

// A socket and its deadline. The socket is used on its own executor (a strand) only.
class Connection {
public:
    using clock = std::chrono::steady_clock;

    explicit Connection(boost::asio::ip::tcp::socket socket) : socket_(std::move(socket)) {}

    boost::asio::ip::tcp::socket& socket() { return socket_; }

    // The connection is closed if it is still past `timeout` from now when the sweeper looks.
    void expires_after(std::chrono::milliseconds timeout) {
        deadline_.store((clock::now() + timeout).time_since_epoch().count(), std::memory_order_relaxed);
    }
    void expires_never() { deadline_.store(never, std::memory_order_relaxed); }
    bool expired(clock::time_point now) const {
        return deadline_.load(std::memory_order_relaxed) <= now.time_since_epoch().count();
    }

private:
    static constexpr clock::rep never = INT64_MAX;

    boost::asio::ip::tcp::socket socket_;
    std::atomic<clock::rep> deadline_{never};
};

class ConnectionDeadlines {
public:
    // Removes the connection from the set when it goes out of scope.
    class Registration {
    public:
        Registration(ConnectionDeadlines& set, Connection* c) : set_(set), connection_(c) {}
        ~Registration() { set_.remove(connection_); }
        Registration(const Registration&) = delete;
        Registration& operator=(const Registration&) = delete;

    private:
        ConnectionDeadlines& set_;
        Connection* connection_;
    };

    [[nodiscard]] Registration add(const std::shared_ptr<Connection>& connection);
    std::size_t size() const;

    // Every `interval`, closes (on its own executor) each connection past its deadline.
    // Runs as long as its io_context does: connections still draining at shutdown keep
    // their deadlines.
    boost::asio::awaitable<void> sweep_every(std::chrono::milliseconds interval);

private:
    void remove(Connection* connection);
    void close_expired(Connection::clock::time_point now);

    mutable std::mutex mutex_;
    std::unordered_map<Connection*, std::weak_ptr<Connection>> open_;  // guarded by mutex_
};

}  // namespace jobq::net
