#include "net/smtp/pool.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace jobq::net::smtp {

namespace asio = boost::asio;
using clock = std::chrono::steady_clock;

namespace {

constexpr auto use_nothrow = asio::as_tuple(asio::use_awaitable);
// A connection used this recently is known good: no NOOP before reusing it.
constexpr auto trust_for = std::chrono::seconds(1);

asio::awaitable<void> quit_and_close(std::unique_ptr<Connection> connection) { co_await connection->quit(); }

}  // namespace

Pool::Pool(asio::any_io_executor executor, ServerOptions server, PoolOptions options)
    : executor_(executor),
      server_(std::move(server)),
      options_(options),
      tls_(make_tls_context(server_.ca_file)),
      slot_freed_(executor, clock::time_point::max()) {
    options_.size = std::max<std::size_t>(options_.size, 1);
}

asio::awaitable<std::optional<Failure>> Pool::send(const Envelope& envelope) {
    co_await wait_for_rate();
    for (int attempt = 0;; ++attempt) {
        auto acquired = co_await acquire(attempt > 0);
        if (auto* failure = std::get_if<Failure>(&acquired)) co_return std::move(*failure);
        auto connection = std::move(std::get<std::unique_ptr<Connection>>(acquired));
        auto failure = co_await connection->send(envelope);
        const bool broken = failure && !connection->usable();
        release(std::move(connection));
        // A session that broke (a dropped connection, a timeout) may have been stale, and
        // so may the idle ones: once more on a new connection before the failure counts.
        if (!broken || failure->permanent || attempt == 1) co_return failure;
    }
}

asio::awaitable<Connection::Opened> Pool::acquire(bool fresh) {
    for (;;) {
        // A fresh connection when every place is taken by an idle one: close the oldest.
        if (fresh && open_ >= options_.size && !idle_.empty()) {
            retire(std::move(idle_.front().connection));
            idle_.pop_front();
        }
        while (!fresh && !idle_.empty()) {
            Idle idle = std::move(idle_.back());
            idle_.pop_back();
            const auto idle_for = clock::now() - idle.since;
            if (idle_for > options_.idle_timeout) {
                retire(std::move(idle.connection));
                continue;
            }
            if (idle_for > trust_for && !co_await idle.connection->alive()) {
                retire(std::move(idle.connection));
                continue;
            }
            co_return std::move(idle.connection);
        }
        if (open_ < options_.size) {
            ++open_;
            auto opened = co_await Connection::open(executor_, server_, tls_);
            if (std::holds_alternative<Failure>(opened)) {
                --open_;
                slot_freed_.cancel_one();
            }
            co_return opened;
        }
        co_await slot_freed_.async_wait(use_nothrow);
    }
}

void Pool::release(std::unique_ptr<Connection> connection) {
    if (!connection->usable() || connection->messages_sent() >= options_.max_messages) {
        retire(std::move(connection));
        return;
    }
    idle_.push_back({std::move(connection), clock::now()});
    slot_freed_.cancel_one();
    if (!retiring_idle_) {
        retiring_idle_ = true;
        asio::co_spawn(executor_, retire_idle(), asio::detached);
    }
}

asio::awaitable<void> Pool::retire_idle() {
    // idle_ is in release order (acquire takes the newest): its front is the oldest.
    asio::steady_timer timer(executor_);
    while (!idle_.empty()) {
        timer.expires_at(idle_.front().since + options_.idle_timeout);
        co_await timer.async_wait(use_nothrow);
        while (!idle_.empty() && clock::now() - idle_.front().since >= options_.idle_timeout) {
            retire(std::move(idle_.front().connection));
            idle_.pop_front();
        }
    }
    retiring_idle_ = false;
}

void Pool::retire(std::unique_ptr<Connection> connection) {
    --open_;
    slot_freed_.cancel_one();
    // QUIT politely without holding up the caller; the connection closes itself after.
    asio::co_spawn(executor_, quit_and_close(std::move(connection)), asio::detached);
}

asio::awaitable<void> Pool::wait_for_rate() {
    if (options_.rate_limit <= 0) co_return;
    const auto interval = std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(1.0 / options_.rate_limit));
    const auto now = clock::now();
    const auto slot = std::max(now, next_send_);
    next_send_ = slot + interval;
    if (slot <= now) co_return;
    asio::steady_timer timer(executor_, slot);
    co_await timer.async_wait(use_nothrow);
}

}  // namespace jobq::net::smtp
