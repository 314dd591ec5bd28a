#include "net/connection_deadlines.hpp"

#include "common/asio_tokens.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>

#include <vector>

namespace jobq::net {

namespace asio = boost::asio;

ConnectionDeadlines::Registration ConnectionDeadlines::add(const std::shared_ptr<Connection>& connection) {
    const std::lock_guard lock(mutex_);
    open_.emplace(connection.get(), connection);
    return {*this, connection.get()};
}

void ConnectionDeadlines::remove(Connection* connection) {
    const std::lock_guard lock(mutex_);
    open_.erase(connection);
}

std::size_t ConnectionDeadlines::size() const {
    const std::lock_guard lock(mutex_);
    return open_.size();
}

void ConnectionDeadlines::close_expired(Connection::clock::time_point now) {
    std::vector<std::shared_ptr<Connection>> expired;
    {
        const std::lock_guard lock(mutex_);
        for (const auto& [raw, weak] : open_) {
            if (!raw->expired(now)) continue;
            if (auto connection = weak.lock()) expired.push_back(std::move(connection));
        }
    }
    for (auto& connection : expired) {
        auto executor = connection->socket().get_executor();
        asio::post(executor, [connection = std::move(connection), now] {
            // The session may have finished the operation since the sweep looked.
            if (!connection->expired(now)) return;
            boost::system::error_code ignored;
            connection->socket().close(ignored);
        });
    }
}

asio::awaitable<void> ConnectionDeadlines::sweep_every(std::chrono::milliseconds interval) {
    asio::steady_timer timer(co_await asio::this_coro::executor);
    for (;;) {
        timer.expires_after(interval);
        co_await timer.async_wait(use_nothrow);
        close_expired(Connection::clock::now());
    }
}

}  // namespace jobq::net
