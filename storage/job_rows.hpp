#pragma once
// Reading and writing rows of the jobs table, shared by the engine's store operations and
// the operator's (list, retry, cancel, delete). DB thread only, like every Database use.

#include "core/job.hpp"
#include "core/job_store.hpp"
#include "storage/sqlite.hpp"

#include <cstdint>
#include <optional>

namespace jobq::storage {

// Column order shared by every statement that returns whole jobs (see read_job).
#define JOBQ_JOB_COLUMNS                                                                             \
    "id, type, queue, priority, payload, state, attempts, max_retries, run_at, lease_expires_at, " \
    "idempotency_key, last_error, created_at, started_at, finished_at"

core::Job read_job(const Statement& s);

std::optional<core::Job> find_job(Database& db, core::job_id id);

// Inserts the job, or answers the existing one when its idempotency key is taken.
core::EnqueueResult insert_job(Database& db, core::JobSpec& spec, core::millis now);

// Priority levels holding queued jobs, from the highest down: nullopt gives the top one.
std::optional<std::int64_t> next_priority_level(Database& db, std::optional<std::int64_t> below);

// The earliest run_at of any queued job.
std::optional<core::millis> earliest_run_at(Database& db);

}  // namespace jobq::storage
