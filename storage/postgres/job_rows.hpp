#pragma once
// Rows of the jobs table as core::Job, and the statements every store operation
// shares.

#include "core/job.hpp"
#include "core/job_store.hpp"
#include "storage/postgres/group_commit.hpp"
#include "storage/postgres/result.hpp"

#include <boost/asio/awaitable.hpp>

#include <string>
#include <vector>

namespace jobq::storage::pg {

// The columns read_job reads, in its order.
#define JOBQ_PG_JOB_COLUMNS                                                      \
    "id, type, queue, priority, payload, state, attempts, max_retries, run_at, " \
    "lease_expires_at, "                                                         \
    "idempotency_key, last_error, created_at, started_at, finished_at, "         \
    "attempt_base, external, worker, result"

// The same, each prefixed with `j.`.
#define JOBQ_PG_JOB_COLUMNS_OF_J                                          \
    "j.id, j.type, j.queue, j.priority, j.payload, j.state, j.attempts, " \
    "j.max_retries, j.run_at, "                                           \
    "j.lease_expires_at, j.idempotency_key, j.last_error, j.created_at, " \
    "j.started_at, j.finished_at, "                                       \
    "j.attempt_base, j.external, j.worker, j.result"

inline constexpr int job_column_count = 19;

// The job in `row`, its columns starting at `first`.
core::Job read_job(const Result& result, int row, int first = 0);
std::vector<core::Job> read_jobs(const Result& result);

// Marks due the queued jobs whose run_at has come by `now`, the claims' index holds
// them: built-in and external jobs alike at a claim, external ones only at a lease (a
// built-in job marked due there would be hidden from the dispatcher, whose next wake-up
// is the earliest job not yet due).
Statement mark_due(core::millis now, bool external_only);

// Stores the jobs in one statement, with their idempotency keys honoured (a key
// already stored, or twice in the batch, answers the job that has it); results
// in spec order.
boost::asio::awaitable<std::vector<core::EnqueueResult>> insert_jobs(Transaction& tx, std::vector<core::JobSpec> specs,
                                                                     core::millis now);

}  // namespace jobq::storage::pg
