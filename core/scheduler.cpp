#include "core/scheduler.hpp"

#include "common/asio_tokens.hpp"
#include "core/log.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>

namespace jobq::core {

namespace asio = boost::asio;

namespace {

using time_point = std::chrono::steady_clock::time_point;

constexpr millis longest_sleep_ms = 60'000;
constexpr millis follower_look_ms = 1'000;  // while another node leads
constexpr millis uncomputable_retry_ms = 60'000;  // a schedule whose zone is gone: logged once a minute

// The steady-clock moment `ms` from now, for the timer (wall-clock ticks, steady sleeps).
time_point steady_in(millis ms) {
    return std::chrono::steady_clock::now() + std::chrono::milliseconds(std::max<millis>(ms, 0));
}

}  // namespace

Scheduler::Scheduler(asio::io_context& io, ScheduleStore& store, SchedulerOptions options)
    : store_(store),
      options_(std::move(options)),
      strand_(asio::make_strand(io)),
      timer_(strand_),
      stopped_(strand_, asio::steady_timer::time_point::max()),
      on_time_after_(options_.clock()) {}

void Scheduler::start() {
    running_ = true;
    asio::co_spawn(strand_, loop(), [this](std::exception_ptr e) {
        if (e) log::error("scheduler ended by an exception");
        running_ = false;
        stopped_.cancel();
    });
}

asio::awaitable<void> Scheduler::stop() {
    return asio::co_spawn(strand_, stop_on_strand(), asio::use_awaitable);
}

asio::awaitable<void> Scheduler::stop_on_strand() {
    stopping_ = true;
    timer_.cancel();
    while (running_) co_await stopped_.async_wait(use_nothrow);
}

void Scheduler::changed() {
    asio::post(strand_, [this] {
        look_again_ = true;
        timer_.cancel();
    });
}

asio::awaitable<void> Scheduler::loop() {
    while (!stopping_) {
        look_again_ = false;
        std::optional<millis> next;
        bool failed = false;
        // Another node leads and fires: look again in a second, should this one take over.
        // Ticks this node did not fire stay on time (on_time_after_ stays), so a takeover
        // fires every tick the leader that died left.
        const bool leading = leads(options_.leadership);
        try {
            if (leading) next = co_await round();
        } catch (const std::exception& e) {
            log::error("the scheduler cannot read the schedules", {{"error", e.what()}});
            failed = true;
        }
        if (stopping_) break;
        if (look_again_) continue;  // a change came during the round
        // Ticks are wall-clock times, the timer's sleep is steady: never sleep longer than
        // a minute, so that a wall clock stepped forward (or a suspended machine) finds the
        // schedules on time again within a minute.
        millis sleep = longest_sleep_ms;
        if (failed) sleep = options_.retry_after.count();
        else if (!leading) sleep = follower_look_ms;
        else if (next) sleep = std::min(sleep, *next - options_.clock());
        timer_.expires_at(steady_in(sleep));
        co_await timer_.async_wait(use_nothrow);
    }
}

asio::awaitable<std::optional<millis>> Scheduler::round() {
    const auto schedules = co_await store_.list_schedules();
    const millis now = options_.clock();
    std::optional<millis> earliest;
    for (const auto& schedule : schedules) {
        if (schedule.paused || !schedule.next_run_at) continue;
        if (*schedule.next_run_at > now) {
            earliest = std::min(earliest.value_or(*schedule.next_run_at), *schedule.next_run_at);
            continue;
        }
        // One schedule failing (storage, a time zone that cannot be loaded) is retried
        // soon and keeps no other schedule from firing.
        std::optional<millis> next;
        try {
            next = co_await fire(schedule, now);
        } catch (const std::exception& e) {
            log::error("a schedule could not fire", {{"schedule", schedule.name}, {"error", e.what()}});
            next = now + options_.retry_after.count();
        }
        if (next) earliest = std::min(earliest.value_or(*next), *next);
    }
    on_time_after_ = now;
    co_return earliest;
}

asio::awaitable<std::optional<millis>> Scheduler::fire(const Schedule& schedule, millis now) {
    const auto expression = cron::parse(schedule.cron);
    const auto* zone = cron::find_zone(schedule.timezone);
    if (!expression || !zone) {  // checked when put; a tz database update may drop a zone
        log::error("schedule cannot be computed", {{"schedule", schedule.name}, {"timezone", schedule.timezone}});
        co_return now + uncomputable_retry_ms;
    }
    const auto plan = plan_ticks(*expression, *zone, schedule.anchor, *schedule.next_run_at, now, schedule.catch_up,
                                 on_time_after_);
    auto firing = store_.fire_schedule(schedule.name, schedule.revision, *schedule.next_run_at, plan.fire,
                                       plan.next_run_at, now);
    const auto fired = co_await std::move(firing);
    // Refused: the schedule changed meanwhile, and the change wakes this loop again.
    if (!fired) co_return std::nullopt;
    if (fired->created > 0) {
        if (options_.metrics) {
            options_.metrics->schedule_fires.at({schedule.name}).add(fired->created);
            options_.metrics->jobs_enqueued.add(fired->created);
        }
        options_.fired();  // at once: a later schedule's failure must not hold these jobs back
    }
    co_return plan.next_run_at;
}

}  // namespace jobq::core
