#pragma once
// What an operator may do to one job: retry, cancel, delete. Every member may throw
// StorageError.

#include "core/error.hpp"
#include "core/job.hpp"

#include <boost/asio/awaitable.hpp>

#include <cstddef>
#include <optional>
#include <string>

namespace jobq::core {

// What an operator's change found.
struct JobChange {
    enum class Outcome { changed, not_found, conflict };
    Outcome outcome = Outcome::not_found;
    std::optional<Job> job;  // after the change, or as found when it conflicted
};

// How many jobs one step of a bulk action read at most.
inline constexpr std::size_t bulk_window = 500;

struct BulkStep {
    std::size_t changed = 0;
    job_id up_to = 0;                 // the last id the action may touch (fixed by its first step)
    std::optional<job_id> next;       // where the next step starts (its `after`); none: finished
};

class OperatorActions {
public:
    virtual ~OperatorActions() = default;

    // failed or cancelled -> queued at `now`, with a new budget of retries (attempt_base =
    // attempts); the attempts so far and their history stay.
    virtual boost::asio::awaitable<JobChange> retry(job_id id, millis now) = 0;

    // queued -> cancelled.
    virtual boost::asio::awaitable<JobChange> cancel(job_id id, millis now) = 0;

    // Any state but processing; the job's attempt history goes with it.
    virtual boost::asio::awaitable<JobChange> remove(job_id id) = 0;

    // Bulk actions on a queue, a window of ids at a time: each step reads at most
    // bulk_window jobs in one transaction of its own (so that other writes wait behind none
    // for long), and touches only jobs with ids up to the first step's `up_to` (jobs
    // stored or failed after the action began are left alone, and the steps end).
    // Start with after = 0 and up_to = nullopt; go on with the step's next while it has one.
    // Failed jobs of `queue` queued again at `now`, as retry() does.
    virtual boost::asio::awaitable<BulkStep> retry_failed(std::string queue, millis now, job_id after,
                                                          std::optional<job_id> up_to) = 0;
    // Jobs of `queue` in `state` (not processing: running jobs are never purged) deleted,
    // with their history.
    virtual boost::asio::awaitable<BulkStep> purge(std::string queue, JobState state, job_id after,
                                                   std::optional<job_id> up_to) = 0;
};

}  // namespace jobq::core
