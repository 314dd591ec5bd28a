#pragma once
// Schedules: a job template fired at each tick of a cron expression (core/cron.hpp), in
// a time zone. Each fired job carries the idempotency key "schedule:<name>:<tick>" and is
// stored in the transaction that advances the schedule, so a tick is fired exactly once
// whatever the moment of a crash. Ticks missed while the server was down follow the
// schedule's catch-up policy.

#include "core/clock.hpp"
#include "core/cron.hpp"
#include "core/job.hpp"

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace jobq::core {

enum class CatchUp {
    none,    // missed ticks are skipped
    latest,  // the most recent missed tick fires, once
    all,     // every missed tick fires (the most recent max_catch_up_ticks)
};

inline constexpr std::size_t max_catch_up_ticks = 1'000;

std::optional<CatchUp> parse_catch_up(std::string_view text);
std::string_view to_string(CatchUp policy);

struct Schedule {
    std::string name;
    std::string cron;  // as given
    std::string timezone = "UTC";
    JobSpec job;  // the template: type, payload, queue, priority, max_retries (run_at and key unused)
    CatchUp catch_up = CatchUp::latest;
    bool paused = false;
    millis anchor = 0;                  // when it was put: `@every` counts from here
    std::optional<millis> next_run_at;  // the next tick to fire; none: it never fires again
    std::optional<millis> last_run_at;  // the last tick fired
    std::optional<job_id> last_job_id;
    // Bumped by every put: a firing planned from an older version of the schedule is
    // refused, even when the new version's next tick is the same.
    std::int64_t revision = 0;
};

// The idempotency key of a tick's job: "schedule:<name>:<tick in Unix ms>".
std::string tick_key(std::string_view schedule, millis tick);

struct TickPlan {
    std::vector<millis> fire;           // the ticks to fire now, oldest first
    std::optional<millis> next_run_at;  // the first tick after `now`
};

// What a schedule whose next tick is `next_run_at` fires at `now`. Ticks after
// `on_time_after` are on time (the scheduler was running then) and all fire; ticks at or
// before it were missed (the server was down), and `policy` says which of them fire. At
// most max_catch_up_ticks fire, the most recent.
TickPlan plan_ticks(const cron::Expression& expression, const date::time_zone& zone, millis anchor, millis next_run_at,
                    millis now, CatchUp policy, millis on_time_after);

}  // namespace jobq::core
