#pragma once
// The engine's view of durable storage. core/ owns this interface; storage/ implements
// it on SQLite. Every member may throw StorageError when the database fails (disk full,
// I/O error); nothing is then acknowledged.

#include "core/job.hpp"

#include <boost/asio/awaitable.hpp>

#include <cstddef>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace jobq::core {

class StorageError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

struct EnqueueResult {
    Job job;
    bool created = true;  // false: the idempotency key named an existing job
};

// How an attempt ended. Applied only if the job is still `processing` at that attempt
// (fencing): a worker whose lease expired cannot overwrite a newer attempt.
struct Settlement {
    enum class Kind {
        done,      // processing -> done
        retry,     // processing -> queued at run_at, error recorded
        failed,    // processing -> failed (dead letter), error recorded
        released,  // processing -> queued now; the attempt is not counted (shutdown)
    };
    job_id id = 0;
    std::int32_t attempt = 0;
    Kind kind = Kind::done;
    millis at = 0;
    millis run_at = 0;  // for retry
    std::string error;
};

struct RecoveryReport {
    std::size_t requeued = 0;
    std::size_t dead_lettered = 0;
};

class JobStore {
public:
    virtual ~JobStore() = default;

    // Durable when the awaitable completes: the row has been committed.
    virtual boost::asio::awaitable<EnqueueResult> enqueue(JobSpec spec) = 0;

    virtual boost::asio::awaitable<std::optional<Job>> get(job_id id) = 0;

    // Moves up to `max` runnable jobs (queued, run_at <= now) to processing, ordered by
    // priority (highest first), run_at, id; increments attempts and sets the lease.
    virtual boost::asio::awaitable<std::vector<Job>> claim(std::size_t max, millis now,
                                                           millis lease_until) = 0;

    // False when fencing refused it (the job is no longer at that attempt).
    virtual boost::asio::awaitable<bool> settle(Settlement settlement) = 0;
    // Many at once, in one transaction: for each, whether it was recorded (fencing).
    virtual boost::asio::awaitable<std::vector<bool>> settle_all(std::vector<Settlement> settlements) = 0;

    // Earliest run_at among queued jobs.
    virtual boost::asio::awaitable<std::optional<millis>> next_run_at() = 0;

    // Earliest lease expiry among processing jobs.
    virtual boost::asio::awaitable<std::optional<millis>> next_lease_expiry() = 0;

    // Expired leases: requeued, or dead-lettered when out of attempts.
    virtual boost::asio::awaitable<RecoveryReport> reap_expired(millis now) = 0;

    // At start-up: every `processing` row belonged to a dead process.
    virtual boost::asio::awaitable<RecoveryReport> recover(millis now) = 0;
};

}  // namespace jobq::core
