#pragma once
// Queues in JSON: what GET /queues and GET /queues/{name} show of a queue (its counts, its
// settings, how it is doing), and the body of PATCH /queues/{name}.

#include "core/error.hpp"
#include "core/job_changes.hpp"
#include "core/queue_settings.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace jobq::app {

// A queue's name is as a job's: 1 to 128 bytes of UTF-8 (as a job's JSON body carries it),
// without control characters (it is a JSON key in /stats and a label in /metrics).
inline constexpr std::size_t max_queue_name_length = 128;
bool valid_queue_name(std::string_view name);

struct QueueView {
    std::string name;
    core::StateCounts counts{};
    core::QueueSettings settings;
    std::optional<core::millis> oldest_runnable_age_ms;  // none runnable: null
    std::optional<std::int64_t> finished_last_minute;    // done and dead-lettered; null when not tracked apart
};

// {"name", "counts": {state: n}, "paused", "concurrency", "rate_limit": {"per_second",
// "burst"} | null, "weight", "oldest_runnable_age_ms", "finished_last_minute"}.
std::string queue_json(const QueueView& queue);

// {"paused", "concurrency", "rate_limit", "weight"}.
std::string queue_settings_json(const core::QueueSettings& settings);

// A PATCH body: any of paused (bool), concurrency (1..100000 or null), rate_limit
// ({"per_second": x > 0, "burst": n >= 1} or null), weight (1..1000). 400 invalid_field,
// unknown_field or invalid_json otherwise.
core::Result<core::QueueSettingsPatch> parse_queue_patch(std::string_view body);

}  // namespace jobq::app
