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
    bool external = false;  // of an external type: handed out only by a lease
};

struct Job {
    job_id id = 0;
    std::string type;
    std::string queue;
    std::int64_t priority = 0;
    std::string payload;
    JobState state = JobState::queued;
    // Claims so far, including the one running now, over the job's whole life: never goes
    // back, so it fences every attempt and numbers its history record.
    std::int32_t attempts = 0;
    std::int32_t max_retries = 0;
    millis run_at = 0;
    std::optional<millis> lease_expires_at;
    std::optional<std::string> idempotency_key;
    std::optional<std::string> last_error;
    millis created_at = 0;
    std::optional<millis> started_at;
    std::optional<millis> finished_at;
    // Attempts made before the last operator retry: the retry budget counts from here.
    std::int32_t attempt_base = 0;
    bool external = false;              // handed out only by a lease (core/lease_store.hpp)
    std::optional<std::string> worker;  // who holds its external lease, while it is held
    std::optional<std::string> result;  // JSON an external worker's ack stored

    // Attempts since the last operator retry (what the API shows as `attempts`).
    std::int32_t attempts_since_retry() const { return attempts - attempt_base; }
    // True when the attempt now running (or last run) was the last one allowed.
    bool out_of_attempts() const { return attempts_since_retry() > max_retries; }
};

}  // namespace jobq::core
