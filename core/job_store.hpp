#pragma once
// The engine's view of durable storage. core/ owns this interface; storage/ implements
// it on SQLite. Every member may throw StorageError when the database fails (disk full,
// I/O error); nothing is then acknowledged.

#include "core/error.hpp"
#include "core/job.hpp"

#include <boost/asio/awaitable.hpp>

#include <cstddef>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace jobq::core {

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
    // The job's queue and type, for the kept counts (core::JobCounts): whoever settles a job
    // it claimed has them. Empty: the store looks them up, at the cost of one more read.
    std::string queue = std::string();
    std::string type = std::string();
    std::optional<std::string> result = std::nullopt;  // done: JSON to keep on the job
};

// What a claim asks for: up to `max` runnable jobs (queued, run_at <= now), leased until
// `lease_until`. Empty `types` or `queues`: any; otherwise only jobs of those types and
// queues (the built-in workers claim every type they run, an external worker its own).
struct ClaimRequest {
    std::size_t max = 1;
    millis now = 0;
    millis lease_until = 0;
    std::vector<std::string> types;
    std::vector<std::string> queues;
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

    // All or nothing, in one transaction; results in the order of `specs`.
    virtual boost::asio::awaitable<std::vector<EnqueueResult>> enqueue_batch(std::vector<JobSpec> specs) = 0;

    virtual boost::asio::awaitable<std::optional<Job>> get(job_id id) = 0;

    // Moves the runnable jobs the request asks for to processing, ordered by priority
    // (highest first), run_at, id; increments attempts and sets the lease.
    virtual boost::asio::awaitable<std::vector<Job>> claim(ClaimRequest request) = 0;

    // errc::lease_lost when fencing refused it (the job is no longer at that attempt).
    virtual boost::asio::awaitable<Result<void>> settle(Settlement settlement) = 0;
    // Many at once, in one transaction: for each, whether it was recorded (fencing). A
    // batch answers with a flag per outcome rather than an Error each: the engine only
    // logs the refused ones.
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
