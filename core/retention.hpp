#pragma once
// Retention: finished jobs are deleted once they are old enough, so the database does not
// grow without bound. done and cancelled jobs go after `finished_ms`, failed ones (the
// dead letters an operator may still want) after `failed_ms`.
//
// A timer looks every `sweep_interval`. Each deletion is a small batch in a transaction
// of its own, through the same group commit as every write, so submissions and outcomes
// are committed between batches and never wait behind a large delete.

#include "core/clock.hpp"
#include "core/leadership.hpp"
#include "core/maintenance.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include <chrono>
#include <cstddef>
#include <optional>

namespace jobq::core {

struct RetentionOptions {
    std::optional<millis> finished_ms = 7 * 86'400'000LL;  // nullopt: kept forever
    std::optional<millis> failed_ms = 30 * 86'400'000LL;
    std::chrono::milliseconds sweep_interval{60'000};
    std::size_t batch = 500;
    // Between two full batches: room for the writes waiting behind them.
    std::chrono::milliseconds pause{20};
    // On several nodes: only the leader sweeps. Null: alone, it leads.
    const Leadership* leadership = nullptr;
};

class RetentionSweeper {
public:
    RetentionSweeper(boost::asio::io_context& io, Maintenance& store, RetentionOptions options,
                     Clock clock = system_clock());

    void start();
    // Ends the sweep loop; completes once it has (a batch in progress finishes first).
    boost::asio::awaitable<void> stop();

private:
    boost::asio::awaitable<void> stop_on_strand();
    boost::asio::awaitable<void> sweep_loop();
    // Deletes batches until one comes back short; false when storage failed.
    boost::asio::awaitable<bool> sweep();

    Maintenance& store_;
    RetentionOptions options_;
    Clock clock_;
    boost::asio::strand<boost::asio::io_context::executor_type> strand_;
    boost::asio::steady_timer timer_;
    boost::asio::steady_timer stopped_;  // expires when the loop has ended
    bool stopping_ = false;
    bool running_ = false;
};

}  // namespace jobq::core
