#pragma once
// A small pool of PostgreSQL connections, opened as they are needed, up to
// `size`. A connection that broke is dropped when it comes back, and the next
// acquire opens another. When the server cannot be reached, acquires fail at
// once (StorageError) until the next attempt is due: after 100 ms, doubling up
// to 5 s, so an outage is not met with a storm of connection attempts.
// Thread-safe.

#include "core/wake_signal.hpp"
#include "storage/postgres/connection.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>

#include <chrono>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace jobq::storage::pg {

struct PoolOptions {
    ConnectOptions connect;
    std::size_t size = 4;
    // How long an acquire waits for a connection another caller holds.
    std::chrono::milliseconds acquire_timeout{10'000};
};

class ConnectionPool {
    struct State;

public:
    // A connection held by one caller; back to the pool when the lease ends. It keeps the
    // pool's state alive: a lease destroyed with a coroutine the io_context never resumed
    // (a request still waiting at shutdown) outlives the pool itself.
    class Lease {
    public:
        Lease() = default;  // holds nothing (an awaitable's result must be default-constructible)
        Lease(std::shared_ptr<State> state, std::unique_ptr<Connection> connection)
            : state_(std::move(state)), connection_(std::move(connection)) {}
        Lease(Lease&& other) noexcept = default;
        Lease& operator=(Lease&& other) noexcept {
            if (this != &other) {
                give_back();
                state_ = std::move(other.state_);
                connection_ = std::move(other.connection_);
            }
            return *this;
        }
        Lease(const Lease&) = delete;
        ~Lease() { give_back(); }
        Connection& operator*() const { return *connection_; }
        Connection* operator->() const { return connection_.get(); }

    private:
        void give_back();
        std::shared_ptr<State> state_;
        std::unique_ptr<Connection> connection_;
    };

    ConnectionPool(boost::asio::any_io_executor executor, PoolOptions options);
    // Closes the idle connections; those still leased are closed as they come back.
    ~ConnectionPool();
    ConnectionPool(const ConnectionPool&) = delete;
    ConnectionPool& operator=(const ConnectionPool&) = delete;

    // Throws ConnectionError when no connection can be opened, core::StorageError when
    // none came free within the acquire timeout.
    boost::asio::awaitable<Lease> acquire();

    // One batch on a connection of the pool (Connection::run).
    boost::asio::awaitable<std::vector<Result>> run(std::vector<Statement> statements,
                                                    std::chrono::milliseconds timeout);

    const ConnectOptions& connect_options() const { return options_.connect; }
    boost::asio::any_io_executor executor() const { return executor_; }
    // Where connections are opened (a thread that may block).
    boost::asio::any_io_executor connector() { return connector_.get_executor(); }

private:
    // What leases and waiting acquires share with the pool, and may keep past it.
    struct State {
        std::mutex mutex;
        std::vector<std::unique_ptr<Connection>> idle;     // guarded by mutex
        std::size_t open = 0;                              // idle, held or opening; guarded
        std::chrono::steady_clock::time_point retry_at{};  // no connection attempt before; guarded
        std::chrono::milliseconds backoff{0};              // guarded by mutex
        std::string last_failure;                          // guarded by mutex
        bool closed = false;                               // the pool is gone; guarded by mutex
        core::WakeSignal returned;                         // a connection came back, or a slot came free

        void give_back(std::unique_ptr<Connection> connection);
    };

    static boost::asio::awaitable<Lease> acquire_on_strand(std::shared_ptr<State> state, ConnectionPool* pool);
    // Opens one more connection, or throws (and backs off).
    boost::asio::awaitable<std::unique_ptr<Connection>> open_one(std::shared_ptr<State> state);

    boost::asio::any_io_executor executor_;
    boost::asio::strand<boost::asio::any_io_executor> strand_;  // acquires wait here
    PoolOptions options_;
    boost::asio::thread_pool connector_{1};
    std::shared_ptr<State> state_ = std::make_shared<State>();
};

}  // namespace jobq::storage::pg
