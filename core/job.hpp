#pragma once
// The job domain: what a client submits (JobSpec) and what the store keeps (Job).

#include "core/clock.hpp"

#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>

namespace jobq::core {

using job_id = std::int64_t;

enum class JobState { queued, processing, done, failed, cancelled };

std::string_view to_string(JobState state);
std::optional<JobState> parse_job_state(std::string_view text);
std::ostream& operator<<(std::ostream& out, JobState state);

// A validated submission. `payload` is the JSON text exactly as it will be stored.
struct JobSpec {
    std::string type;
    std::string payload;
    std::string queue = "default";
    std::int64_t priority = 0;  // higher runs first
    std::int32_t max_retries = 3;  // a job runs at most max_retries + 1 times
    millis run_at = 0;
    std::optional<std::string> idempotency_key;
};

struct Job {
    job_id id = 0;
    std::string type;
    std::string queue;
    std::int64_t priority = 0;
    std::string payload;
    JobState state = JobState::queued;
    std::int32_t attempts = 0;  // claims so far, including the one running now
    std::int32_t max_retries = 0;
    millis run_at = 0;
    std::optional<millis> lease_expires_at;
    std::optional<std::string> idempotency_key;
    std::optional<std::string> last_error;
    millis created_at = 0;
    std::optional<millis> started_at;
    std::optional<millis> finished_at;

    // True when the attempt now running (or last run) was the last one allowed.
    bool out_of_attempts() const { return attempts > max_retries; }
};

}  // namespace jobq::core
