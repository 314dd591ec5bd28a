#pragma once
// GET /stats (JSON for people and scripts): the kept job counts with the counters kept in
// memory since start; GET /stats/history: the per-second history. GET /metrics shows the
// same counts in Prometheus text (app/prometheus), grouped by the helpers here.

#include "core/schedule_store.hpp"
#include "core/job_history.hpp"
#include "core/job_reader.hpp"
#include "core/metrics.hpp"
#include "core/queue_settings.hpp"

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace jobq::app {

// Every state, in the order both views list them.
inline constexpr std::array<core::JobState, 5> all_states = {core::JobState::queued, core::JobState::processing,
                                                             core::JobState::done, core::JobState::failed,
                                                             core::JobState::cancelled};

using core::StateCounts;  // jobs in each state, indexed by the state's value

// Every queue with a job, each with all its states (0 where none).
std::map<std::string, StateCounts> counts_by_queue(const std::vector<core::JobCount>& counts);

// `metrics` may be null: totals and workers then read zero.
// "queue_settings" holds the queues whose settings are not the defaults; "run_time_ms" each
// job type's runs since start with their p50 and p95.
std::string stats_json(const std::vector<core::JobCount>& counts, std::optional<core::millis> oldest_runnable_age_ms,
                       const core::Metrics* metrics, const core::ScheduleSummary& schedules = {},
                       const core::QueueSettingsMap& queue_settings = {});

// {"from": first second (Unix time), "seconds": n, "totals": {"enqueued": [n values, oldest
// first], "started": [...], "done": [...], "retried": [...], "failed": [...]}, "queues":
// {"<queue>": {the same}}, "every_queue": bool}.
std::string history_json(const core::HistoryWindow& window);

}  // namespace jobq::app
