#pragma once
// Reading stored jobs for operators: listings and the figures /stats and /metrics show.
// Every awaitable member may throw StorageError; none of them keeps the store from
// writing meanwhile.

#include "core/error.hpp"
#include "core/job.hpp"
#include "core/job_counts.hpp"
#include "core/job_history.hpp"

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

// One attempt of a job, as its history shows it: those that failed (retryable, failed for
// good, or lost with their lease), then the last one if it succeeded or is running.
struct JobAttempt {
    std::int32_t attempt = 0;
    std::string outcome;                // retryable, failed, lost, succeeded, running
    std::optional<std::string> error;   // for the failed ones
    std::optional<millis> started_at;   // unknown for attempts recorded before schema v9
    std::optional<millis> finished_at;  // none while running
};

// How many external leases a worker holds now, by the name it gave.
struct WorkerLeases {
    std::string worker;
    std::int64_t leases = 0;
};

class JobReader {
public:
    virtual ~JobReader() = default;

    // Each store says in its documentation what a filtered listing costs it.
    virtual boost::asio::awaitable<JobPage> list(JobFilter filter, std::optional<job_id> after, std::size_t limit) = 0;

    // Jobs per (state, queue, type), only for combinations that exist: kept as the jobs
    // change, read from memory.
    virtual std::vector<JobCount> counts() const = 0;

    // Jobs enqueued, started, done, retried and failed in each of the last `seconds` (at
    // most JobHistory::span_seconds) up to `now_second` (Unix time); from memory.
    virtual HistoryWindow history(std::size_t seconds, std::int64_t now_second) const = 0;

    // A job's attempts in order; nullopt when there is no such job. Read beside the writer.
    virtual boost::asio::awaitable<std::optional<std::vector<JobAttempt>>> attempts(job_id id) = 0;

    // The earliest run_at among queued jobs that are due at `now` (the oldest runnable):
    // index seeks, never a scan of the jobs.
    virtual boost::asio::awaitable<std::optional<millis>> oldest_runnable(millis now) = 0;

    // Leases held per worker name, by name: read among the processing jobs only.
    virtual boost::asio::awaitable<std::vector<WorkerLeases>> leases_by_worker() = 0;
};

}  // namespace jobq::core
