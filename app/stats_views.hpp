#pragma once
// GET /stats (JSON for people and scripts): the job counts read from the database with the
// counters kept in memory since start. GET /metrics shows the same in Prometheus text
// (app/prometheus), grouped by the helpers here.

#include "core/job_reader.hpp"
#include "core/metrics.hpp"

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

// Jobs in each state, indexed by the state's value.
using StateCounts = std::array<std::int64_t, all_states.size()>;

// Every queue with a job, each with all its states (0 where none).
std::map<std::string, StateCounts> counts_by_queue(const std::vector<core::JobCount>& counts);

// `metrics` may be null: totals and workers then read zero.
std::string stats_json(const std::vector<core::JobCount>& counts, std::optional<core::millis> oldest_runnable_age_ms,
                       const core::Metrics* metrics);

}  // namespace jobq::app
