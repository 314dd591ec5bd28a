#pragma once
// GET /metrics: the Prometheus text exposition format (version 0.0.4). It combines the job
// counts read from the database with what core::Metrics has counted since start; core/
// only counts, the format is written here.

#include "core/job_reader.hpp"
#include "core/metrics.hpp"
#include "core/queue_settings.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace jobq::app {

// The content type the format is served with.
inline constexpr std::string_view prometheus_content_type = "text/plain; version=0.0.4; charset=utf-8";

// `metrics` may be null (the server counts nothing): only the job counts and the queues'
// settings are written.
std::string prometheus_text(const std::vector<core::JobCount>& counts, const core::QueueSettingsMap& queues,
                            const core::Metrics* metrics);

}  // namespace jobq::app
