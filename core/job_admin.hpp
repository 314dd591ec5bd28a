#pragma once
// The operator's view of stored jobs: batches, listing, retry, cancel, delete and counts.
// storage/ implements it beside JobStore. Every member may throw StorageError.

#include "core/job.hpp"
#include "core/job_store.hpp"

#include <boost/asio/awaitable.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace jobq::core {

struct JobFilter {
    std::optional<JobState> state;
    std::optional<std::string> type;
    std::optional<std::string> queue;
};

// Keyset pagination in id order: pass next_cursor back as `after` for the next page.
struct JobPage {
    std::vector<Job> jobs;
    std::optional<job_id> next_cursor;  // absent on the last page
};

// What an operator's change found.
struct JobChange {
    enum class Outcome { changed, not_found, conflict };
    Outcome outcome = Outcome::not_found;
    std::optional<Job> job;  // after the change, or as found when it conflicted
};

struct JobCount {
    JobState state;
    std::string queue;
    std::string type;
    std::int64_t count = 0;
};

class JobAdmin {
public:
    virtual ~JobAdmin() = default;

    // All or nothing, in one transaction; results in the order of `specs`.
    virtual boost::asio::awaitable<std::vector<EnqueueResult>> enqueue_batch(std::vector<JobSpec> specs) = 0;

    virtual boost::asio::awaitable<JobPage> list(JobFilter filter, std::optional<job_id> after, std::size_t limit) = 0;

    // failed or cancelled -> queued at `now`, with a new budget of retries (attempt_base =
    // attempts); the attempts so far and their history stay.
    virtual boost::asio::awaitable<JobChange> retry(job_id id, millis now) = 0;

    // queued -> cancelled.
    virtual boost::asio::awaitable<JobChange> cancel(job_id id, millis now) = 0;

    // Any state but processing; the job's attempt history goes with it.
    virtual boost::asio::awaitable<JobChange> remove(job_id id) = 0;

    // Jobs per (state, queue, type), only for combinations that exist.
    virtual boost::asio::awaitable<std::vector<JobCount>> counts() = 0;

    // The earliest run_at among queued jobs that are due at `now` (the oldest runnable).
    virtual boost::asio::awaitable<std::optional<millis>> oldest_runnable(millis now) = 0;

    // Retention: deletes at most `limit` jobs, with their attempt history, that are done or
    // cancelled and finished before `finished_before`, or failed and finished before
    // `failed_before` (nullopt: those are kept). Returns how many went.
    virtual boost::asio::awaitable<std::size_t> delete_expired(std::optional<millis> finished_before,
                                                               std::optional<millis> failed_before,
                                                               std::size_t limit) = 0;
    // Commits a write transaction: true when the database accepts writes now.
    virtual boost::asio::awaitable<bool> writable() = 0;
};

}  // namespace jobq::core
