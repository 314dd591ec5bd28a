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
        try {
            next = co_await round();
        } catch (const StorageError& e) {
            log::error("the scheduler cannot reach storage", {{"error", e.what()}});
            failed = true;
        }
        if (stopping_) break;
        if (look_again_) continue;  // a change came during the round
        if (failed) timer_.expires_at(steady_in(options_.retry_after.count()));
        else if (next) timer_.expires_at(steady_in(*next - options_.clock()));
        else timer_.expires_at(time_point::max());
        co_await timer_.async_wait(use_nothrow);
    }
}

asio::awaitable<std::optional<millis>> Scheduler::round() {
    const auto schedules = co_await store_.list_schedules();
    const millis now = options_.clock();
    std::optional<millis> earliest;
    const auto consider = [&earliest](std::optional<millis> t) {
        if (t && (!earliest || *t < *earliest)) earliest = t;
    };
    std::size_t fired_now = 0;
    for (const auto& schedule : schedules) {
        if (schedule.paused || !schedule.next_run_at) continue;
        if (*schedule.next_run_at > now) {
            consider(schedule.next_run_at);
            continue;
        }
        const auto expression = cron::parse(schedule.cron);
        const auto* zone = cron::find_zone(schedule.timezone);
        if (!expression || !zone) {  // checked when put; a tz database update may drop a zone
            log::error("schedule cannot be computed", {{"schedule", schedule.name}, {"timezone", schedule.timezone}});
            continue;
        }
        const auto plan = plan_ticks(*expression, *zone, schedule.anchor, *schedule.next_run_at, now, schedule.catch_up,
                                     on_time_after_);
        auto firing = store_.fire_schedule(schedule.name, *schedule.next_run_at, plan.fire, plan.next_run_at, now);
        const auto fired = co_await std::move(firing);
        if (fired) {
            fired_now += fired->jobs.size();
            if (options_.metrics && !fired->jobs.empty())
                options_.metrics->schedule_fires.at({schedule.name}).add(fired->jobs.size());
            consider(plan.next_run_at);
        }
    }
    on_time_after_ = now;
    if (fired_now > 0) options_.fired();
    co_return earliest;
}

}  // namespace jobq::core
