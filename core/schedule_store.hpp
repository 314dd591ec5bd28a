#pragma once
// Durable schedules (core/schedule.hpp). core/ owns this interface; storage/ implements it.
// Every member may throw StorageError when the database fails.

#include "core/job.hpp"
#include "core/schedule.hpp"

#include <boost/asio/awaitable.hpp>

#include <optional>
#include <string>
#include <vector>

namespace jobq::core {

struct FiredTicks {
    std::vector<job_id> jobs;  // one per tick fired, in tick order (a tick stored before: its job)
    std::size_t created = 0;   // of them, the jobs stored now
};

// The schedules in brief (/stats).
struct ScheduleSummary {
    std::size_t total = 0;
    std::size_t paused = 0;
    std::optional<millis> next_run_at;  // the earliest next tick of those not paused
};

class ScheduleStore {
public:
    virtual ~ScheduleStore() = default;

    // Creates or replaces the schedule of that name; true when it was created. A replaced
    // schedule keeps its last_run_at and last_job_id, and, when its cron and time zone are
    // unchanged and it neither was nor is paused, its anchor and next_run_at (putting the
    // same schedule again moves none of its ticks). Its revision is bumped.
    virtual boost::asio::awaitable<bool> put_schedule(Schedule schedule) = 0;
    virtual boost::asio::awaitable<std::optional<Schedule>> get_schedule(std::string name) = 0;
    // Every schedule, by name.
    virtual boost::asio::awaitable<std::vector<Schedule>> list_schedules() = 0;
    // False when there was none of that name.
    virtual boost::asio::awaitable<bool> delete_schedule(std::string name) = 0;
    // One aggregate read: no schedule is copied.
    virtual boost::asio::awaitable<ScheduleSummary> summarize_schedules() = 0;

    // In one transaction: the job of each tick (its template's, with the key
    // tick_key(name, tick); a key already stored stores nothing), and the schedule advanced
    // to `next_run_at`, its last_run_at the last tick. Only when the schedule is still at
    // `revision` and `expected` (its next_run_at): a schedule replaced, paused or deleted
    // meanwhile is left alone (nullopt). Jobs are stored as submitted at `now`.
    virtual boost::asio::awaitable<std::optional<FiredTicks>> fire_schedule(std::string name, std::int64_t revision,
                                                                           millis expected,
                                                                           std::vector<millis> ticks,
                                                                           std::optional<millis> next_run_at,
                                                                           millis now) = 0;
};

}  // namespace jobq::core
