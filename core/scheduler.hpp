#pragma once
// The scheduler: one timer, asleep until the earliest next tick of all schedules; at each
// wake-up it fires what is due (plan_ticks, core/schedule.hpp) through the store, which
// stores each tick's job in the transaction that advances its schedule. A schedule put,
// replaced or deleted wakes it (changed()). Ticks before the scheduler started were missed
// while the server was down: each schedule's catch-up policy decides which of them fire.

#include "core/clock.hpp"
#include "core/leadership.hpp"
#include "core/metrics.hpp"
#include "core/schedule_store.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include <chrono>
#include <functional>
#include <optional>

namespace jobq::core {

struct SchedulerOptions {
    Clock clock = system_clock();
    // Called after jobs were fired: whoever waits for work should look again.
    std::function<void()> fired = [] {};
    // After storage failed, the next look.
    std::chrono::milliseconds retry_after{1'000};
    Metrics* metrics = nullptr;  // null: nothing is counted
    // On several nodes: only the leader fires schedules; the others look every second
    // whether they lead now. Null: alone, it leads.
    const Leadership* leadership = nullptr;
};

class Scheduler {
public:
    Scheduler(boost::asio::io_context& io, ScheduleStore& store, SchedulerOptions options);

    void start();
    // Ends the loop; completes once it has (a firing in progress finishes first).
    boost::asio::awaitable<void> stop();
    // A schedule was put, replaced, paused or deleted: look again. Thread-safe.
    void changed();

private:
    boost::asio::awaitable<void> loop();
    boost::asio::awaitable<void> stop_on_strand();
    // Fires what is due; the earliest next tick of all schedules (none: nothing to wait for).
    boost::asio::awaitable<std::optional<millis>> round();
    // Fires one due schedule; when to look at it again (none: it changed meanwhile).
    boost::asio::awaitable<std::optional<millis>> fire(const Schedule& schedule, millis now);

    ScheduleStore& store_;
    SchedulerOptions options_;
    boost::asio::strand<boost::asio::io_context::executor_type> strand_;
    boost::asio::steady_timer timer_;
    boost::asio::steady_timer stopped_;  // expires when the loop has ended
    millis on_time_after_;               // ticks after this are on time; at or before, missed
    bool look_again_ = false;            // changed() during a round
    bool stopping_ = false;
    bool running_ = false;
};

}  // namespace jobq::core
