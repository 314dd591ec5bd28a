#include "core/retention.hpp"

#include "common/asio_tokens.hpp"
#include "core/log.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace jobq::core {

namespace asio = boost::asio;

RetentionSweeper::RetentionSweeper(asio::io_context& io, Maintenance& store, RetentionOptions options, Clock clock)
    : store_(store),
      options_(options),
      clock_(std::move(clock)),
      strand_(asio::make_strand(io)),
      timer_(strand_),
      stopped_(strand_, asio::steady_timer::time_point::max()) {}

void RetentionSweeper::start() {
    if (!options_.finished_ms && !options_.failed_ms) return;  // everything is kept
    running_ = true;
    asio::co_spawn(strand_, sweep_loop(), [this](std::exception_ptr e) {
        if (e) log::error("retention sweeper ended by an exception");
        running_ = false;
        stopped_.cancel();
    });
}

asio::awaitable<void> RetentionSweeper::stop() {
    // A bare post() would resume on the caller's executor; co_spawn really runs there.
    return asio::co_spawn(strand_, stop_on_strand(), asio::use_awaitable);
}

asio::awaitable<void> RetentionSweeper::stop_on_strand() {
    stopping_ = true;
    timer_.cancel();
    while (running_) co_await stopped_.async_wait(use_nothrow);
}

asio::awaitable<void> RetentionSweeper::sweep_loop() {
    while (!stopping_) {
        // Another node leads and sweeps: this one looks again at the next interval.
        bool ok = true;
        if (leads(options_.leadership)) ok = co_await sweep();
        if (stopping_) break;
        // After a storage failure, the next sweep is the retry.
        if (!ok) log::warn("retention sweep failed; trying again at the next sweep");
        timer_.expires_after(options_.sweep_interval);
        co_await timer_.async_wait(use_nothrow);
    }
}

asio::awaitable<bool> RetentionSweeper::sweep() {
    std::size_t swept = 0;
    while (!stopping_) {
        const millis now = clock_();
        const auto finished_before = options_.finished_ms ? std::optional<millis>(now - *options_.finished_ms) : std::nullopt;
        const auto failed_before = options_.failed_ms ? std::optional<millis>(now - *options_.failed_ms) : std::nullopt;
        std::size_t deleted = 0;
        try {
            deleted = co_await store_.delete_expired(finished_before, failed_before, options_.batch);
        } catch (const StorageError& e) {
            log::error("retention cannot reach storage", {{"error", e.what()}});
            co_return false;
        }
        swept += deleted;
        if (deleted < options_.batch) break;
        timer_.expires_after(options_.pause);
        co_await timer_.async_wait(use_nothrow);
    }
    if (swept > 0) log::info("retention deleted finished jobs", {{"jobs", std::to_string(swept)}});
    co_return true;
}

}  // namespace jobq::core
