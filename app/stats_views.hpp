#pragma once
// The two views of the server's state: GET /stats (JSON for people and scripts) and
// GET /metrics (Prometheus text format). Both combine the job counts read from the
// database with the counters kept in memory since start.

#include "core/job_admin.hpp"
#include "core/metrics.hpp"

#include <optional>
#include <string>
#include <vector>

namespace jobq::app {

// `metrics` may be null: totals and workers then read zero.
std::string stats_json(const std::vector<core::JobCount>& counts, std::optional<core::millis> oldest_runnable_age_ms,
                       const core::Metrics* metrics);

std::string prometheus_text(const std::vector<core::JobCount>& counts, const core::Metrics* metrics);

}  // namespace jobq::app
