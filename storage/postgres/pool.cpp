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

ConnectionPool::Lease::~Lease() {
    if (connection_) pool_->give_back(std::move(connection_));
}

ConnectionPool::ConnectionPool(asio::any_io_executor executor, PoolOptions options)
    : executor_(executor), strand_(asio::make_strand(executor)), options_(std::move(options)) {}

ConnectionPool::~ConnectionPool() {
    {
        const std::lock_guard lock(mutex_);
        idle_.clear();
    }
    // A connection attempt under way ends within libpq's connect_timeout.
    connector_.join();
}

void ConnectionPool::give_back(std::unique_ptr<Connection> connection) {
    {
        const std::lock_guard lock(mutex_);
        // One that broke, or that a failure left inside a transaction, is closed.
        if (connection->broken() || !connection->idle())
            --open_;
        else
            idle_.push_back(std::move(connection));
    }
    returned_.notify_all();
}

asio::awaitable<ConnectionPool::Lease> ConnectionPool::acquire() {
    return asio::co_spawn(strand_, acquire_on_strand(), asio::use_awaitable);
}

asio::awaitable<ConnectionPool::Lease> ConnectionPool::acquire_on_strand() {
    const auto deadline = std::chrono::steady_clock::now() + options_.acquire_timeout;
    for (;;) {
        const auto seen = returned_.generation();
        bool may_open = false;
        {
            const std::lock_guard lock(mutex_);
            if (!idle_.empty()) {
                auto connection = std::move(idle_.back());
                idle_.pop_back();
                co_return Lease(*this, std::move(connection));
            }
            if (open_ < options_.size) {
                if (std::chrono::steady_clock::now() < retry_at_)
                    throw ConnectionError("PostgreSQL is unreachable: " + last_failure_);
                ++open_;
                may_open = true;
            }
        }
        if (may_open) {
            auto opened = co_await open_one();
            co_return Lease(*this, std::move(opened));
        }
        if (std::chrono::steady_clock::now() >= deadline)
            throw core::StorageError("no PostgreSQL connection came free within " +
                                     std::to_string(options_.acquire_timeout.count()) + " ms");
        co_await returned_.wait(seen, deadline);
    }
}

asio::awaitable<std::unique_ptr<Connection>> ConnectionPool::open_one() {
    std::string failure;
    try {
        auto connection = co_await Connection::open(executor_, connector_.get_executor(), options_.connect);
        const std::lock_guard lock(mutex_);
        backoff_ = 0ms;
        co_return connection;
    } catch (const std::exception& e) {
        failure = e.what();
    }
    {
        const std::lock_guard lock(mutex_);
        --open_;
        backoff_ = std::min<std::chrono::milliseconds>(
            longest_backoff, std::max<std::chrono::milliseconds>(first_backoff, backoff_ * 2));
        retry_at_ = std::chrono::steady_clock::now() + backoff_;
        last_failure_ = failure;
    }
    returned_.notify_all();  // a slot came free: a waiter fails fast rather than
                             // at its deadline
    throw ConnectionError(failure);
}

asio::awaitable<std::vector<Result>> ConnectionPool::run(std::vector<Statement> statements,
                                                         std::chrono::milliseconds timeout) {
    auto connection = co_await acquire();
    co_return co_await connection->run(std::move(statements), timeout);
}

}  // namespace jobq::storage::pg
