#include "storage/postgres/pool.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>

namespace jobq::storage::pg {

namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {
constexpr auto first_backoff = 100ms;
constexpr auto longest_backoff = 5000ms;
}  // namespace

void ConnectionPool::Lease::give_back() {
    if (connection_) state_->give_back(std::move(connection_));
}

ConnectionPool::ConnectionPool(asio::any_io_executor executor, PoolOptions options)
    : executor_(executor), strand_(asio::make_strand(executor)), options_(std::move(options)) {}

ConnectionPool::~ConnectionPool() {
    std::vector<std::unique_ptr<Connection>> idle;
    {
        const std::lock_guard lock(state_->mutex);
        state_->closed = true;
        idle.swap(state_->idle);
    }
    idle.clear();  // closed while the io_context they belong to is still there
    state_->returned.close();
    // A connection attempt under way ends within libpq's connect_timeout.
    connector_.join();
}

void ConnectionPool::State::give_back(std::unique_ptr<Connection> connection) {
    {
        const std::lock_guard lock(mutex);
        // One that broke, or that a failure left inside a transaction, is closed; so is
        // every one once the pool is gone.
        if (closed || connection->broken() || !connection->idle())
            --open;
        else
            idle.push_back(std::move(connection));
    }
    returned.notify_all();
}

asio::awaitable<ConnectionPool::Lease> ConnectionPool::acquire() {
    return asio::co_spawn(strand_, acquire_on_strand(state_, this), asio::use_awaitable);
}

asio::awaitable<ConnectionPool::Lease> ConnectionPool::acquire_on_strand(std::shared_ptr<State> state,
                                                                         ConnectionPool* pool) {
    const auto deadline = std::chrono::steady_clock::now() + pool->options_.acquire_timeout;
    for (;;) {
        const auto seen = state->returned.generation();
        bool may_open = false;
        {
            const std::lock_guard lock(state->mutex);
            if (state->closed) throw ConnectionError("PostgreSQL connection pool: closed");
            if (!state->idle.empty()) {
                auto connection = std::move(state->idle.back());
                state->idle.pop_back();
                co_return Lease(state, std::move(connection));
            }
            if (state->open < pool->options_.size) {
                if (std::chrono::steady_clock::now() >= state->retry_at) {
                    ++state->open;
                    may_open = true;
                } else if (state->open == 0) {
                    // Nothing open to wait for: the server is not there.
                    throw ConnectionError("PostgreSQL is unreachable: " + state->last_failure);
                }
                // Else, backing off: wait for one of those open to come back.
            }
        }
        if (may_open) {
            auto opened = co_await pool->open_one(state);
            co_return Lease(state, std::move(opened));
        }
        if (std::chrono::steady_clock::now() >= deadline)
            throw core::StorageError("no PostgreSQL connection came free within " +
                                     std::to_string(pool->options_.acquire_timeout.count()) + " ms");
        co_await state->returned.wait(seen, deadline);
    }
}

asio::awaitable<std::unique_ptr<Connection>> ConnectionPool::open_one(std::shared_ptr<State> state) {
    std::string failure;
    try {
        auto options = options_.connect;
        auto connection = co_await Connection::open(executor_, connector_.get_executor(), std::move(options));
        const std::lock_guard lock(state->mutex);
        state->backoff = 0ms;
        co_return connection;
    } catch (const std::exception& e) {
        failure = e.what();
    }
    {
        const std::lock_guard lock(state->mutex);
        --state->open;
        state->backoff = std::min<std::chrono::milliseconds>(
            longest_backoff, std::max<std::chrono::milliseconds>(first_backoff, state->backoff * 2));
        state->retry_at = std::chrono::steady_clock::now() + state->backoff;
        state->last_failure = failure;
    }
    state->returned.notify_all();  // a slot came free: a waiter fails fast rather than at its deadline
    throw ConnectionError(failure);
}

asio::awaitable<std::vector<Result>> ConnectionPool::run(std::vector<Statement> statements,
                                                         std::chrono::milliseconds timeout) {
    auto connection = co_await acquire();
    co_return co_await connection->run(std::move(statements), timeout);
}

}  // namespace jobq::storage::pg
