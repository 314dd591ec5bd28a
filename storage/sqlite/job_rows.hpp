#pragma once
// Reading and writing rows of the jobs table, shared by the engine's store operations and
// the operator's (list, retry, cancel, delete). Each runs on the thread of the connection
// it is given: the writer's, or a read-only one's for reads.

#include "core/job.hpp"
#include "core/job_changes.hpp"
#include "core/job_store.hpp"
#include "storage/sqlite/sqlite.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace jobq::storage {

// Column order shared by every statement that returns whole jobs (see read_job).
#define JOBQ_JOB_COLUMNS                                                                             \
    "id, type, queue, priority, payload, state, attempts, max_retries, run_at, lease_expires_at, " \
    "idempotency_key, last_error, created_at, started_at, finished_at, attempt_base, external, worker, result"

core::Job read_job(const Statement& s);

// The one value a statement returns (NULL: nullopt), with an optional first parameter.
std::optional<std::int64_t> single_optional(Database& db, std::string_view sql,
                                            std::optional<std::int64_t> param = std::nullopt);

std::optional<core::Job> find_job(Database& db, core::job_id id);

// Inserts the job, or answers the existing one when its idempotency key is taken.
core::EnqueueResult insert_job(Database& db, core::JobChanges& changes, core::JobSpec& spec, core::millis now);

// ["a","b"] for a list of names, bound where a statement reads json_each(?); nullopt for
// an empty one (any name).
std::optional<std::string> json_name_list(const std::vector<std::string>& names);

// Marks due the waiting jobs whose run_at has come (see schema v4's `due`).
void mark_due(Database& db, core::millis now);

// The earliest run_at of a job waiting for it (not yet due).
std::optional<core::millis> earliest_waiting(Database& db);

// Per queue (`only`: that one alone), the earliest run_at among its runnable jobs at
// `now`, due or waiting (queues with none left out): a seek per priority level among each
// of `queues`' due jobs (the queues with queued jobs), and a range of the waiting ones
// that have come due, in a read transaction of its own (not to be called inside another).
std::map<std::string, core::millis> oldest_runnable_by_queue(Database& db, const std::vector<std::string>& queues,
                                                             core::millis now,
                                                             const std::optional<std::string>& only = std::nullopt);
// The same as one minimum over every queue: the waiting jobs that have come due are one
// seek for all.
std::optional<core::millis> oldest_runnable_at(Database& db, const std::vector<std::string>& queues, core::millis now);

}  // namespace jobq::storage
