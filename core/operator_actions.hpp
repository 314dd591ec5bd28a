#pragma once
// What an operator may do to one job: retry, cancel, delete. Every member may throw
// StorageError.

#include "core/error.hpp"
#include "core/job.hpp"

#include <boost/asio/awaitable.hpp>

#include <cstddef>
#include <string>

#include <optional>

namespace jobq::core {

// What an operator's change found.
struct JobChange {
    enum class Outcome { changed, not_found, conflict };
    Outcome outcome = Outcome::not_found;
    std::optional<Job> job;  // after the change, or as found when it conflicted
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

    // Bulk actions on a queue, a batch at a time (each its own transaction, so that other
    // writes wait behind none for long); each answers how many jobs it changed, fewer than
    // `limit` once none is left.
    // Up to `limit` failed jobs of `queue` queued again at `now`, as retry() does.
    virtual boost::asio::awaitable<std::size_t> retry_failed(std::string queue, millis now, std::size_t limit) = 0;
    // Up to `limit` jobs of `queue` in `state` (not processing) deleted, with their history.
    virtual boost::asio::awaitable<std::size_t> purge(std::string queue, JobState state, std::size_t limit) = 0;
};

}  // namespace jobq::core
