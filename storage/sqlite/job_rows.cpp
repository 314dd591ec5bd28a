#include "storage/sqlite/job_rows.hpp"

#include <boost/json/array.hpp>
#include <boost/json/serialize.hpp>

namespace jobq::storage {

using core::Job;
using core::millis;

namespace {

// No RETURNING: SQLite buffers RETURNING rows in an ephemeral table per statement. The
// key was looked up first in the same transaction, so the conflict clause never acts.
constexpr std::string_view sql_insert =
    "INSERT INTO jobs (type, queue, priority, payload, state, attempts, max_retries, run_at, idempotency_key, "
    "created_at, due, external) VALUES (?1, ?2, ?3, ?4, 'queued', 0, ?5, ?6, ?7, ?8, ?6 <= ?8, ?9) "
    "ON CONFLICT (idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING";
constexpr std::string_view sql_by_key = "SELECT " JOBQ_JOB_COLUMNS " FROM jobs WHERE idempotency_key = ?1";

// Each names its index: nothing runs ANALYZE, and without statistics the planner may take
// jobs_state (state = 'queued') for a better one.
constexpr std::string_view sql_mark_due =
    "UPDATE jobs INDEXED BY jobs_waiting SET due = 1 WHERE state = 'queued' AND due = 0 AND run_at <= ?1";
constexpr std::string_view sql_earliest_waiting =
    "SELECT MIN(run_at) FROM jobs INDEXED BY jobs_waiting WHERE state = 'queued' AND due = 0";
// A queue's oldest due job is the first of some priority level in its claim order (the
// index orders by run_at only within a queue and level): one seek per level among its due
// jobs, from the highest down, in each of the two orders (built-in and external jobs). An
// index of due jobs by run_at would make it one seek, at the price of two more index writes
// in every job's life (its insert and its claim): statistics are read on a read-only
// connection, the writer pays for every job. ?1 is the queue, ?2 a priority level.
struct LevelSeeks {
    std::string_view top;
    std::string_view next_below;
    std::string_view oldest_at;
};
constexpr LevelSeeks level_seeks[] = {
    {"SELECT MAX(priority) FROM jobs INDEXED BY jobs_claim_order WHERE state = 'queued' AND due = 1 AND external = 0 "
     "AND queue = ?1",
     "SELECT MAX(priority) FROM jobs INDEXED BY jobs_claim_order WHERE state = 'queued' AND due = 1 AND external = 0 "
     "AND queue = ?1 AND priority < ?2",
     "SELECT MIN(run_at) FROM jobs INDEXED BY jobs_claim_order WHERE state = 'queued' AND due = 1 AND external = 0 "
     "AND queue = ?1 AND priority = ?2"},
    {"SELECT MAX(priority) FROM jobs INDEXED BY jobs_lease_order WHERE state = 'queued' AND due = 1 AND external = 1 "
     "AND queue = ?1",
     "SELECT MAX(priority) FROM jobs INDEXED BY jobs_lease_order WHERE state = 'queued' AND due = 1 AND external = 1 "
     "AND queue = ?1 AND priority < ?2",
     "SELECT MIN(run_at) FROM jobs INDEXED BY jobs_lease_order WHERE state = 'queued' AND due = 1 AND external = 1 "
     "AND queue = ?1 AND priority = ?2"},
};
// Waiting jobs whose run_at has come are runnable too, though not marked due yet: a range
// of jobs_waiting, as short as the time since the last claim marked them (long only while
// every worker is busy and none frees up: claims mark them).
constexpr std::string_view sql_overdue_by_queue =
    "SELECT queue, MIN(run_at) FROM jobs INDEXED BY jobs_waiting WHERE state = 'queued' AND due = 0 AND run_at <= ?1 "
    "AND (?2 IS NULL OR queue = ?2) GROUP BY queue";

std::optional<std::int64_t> seek(Database& db, std::string_view sql, const std::string& queue,
                                 std::optional<std::int64_t> level = std::nullopt) {
    auto s = db.cached(sql);
    s->bind(1, queue);
    if (level) s->bind(2, *level);
    s->step();
    return s->column_optional_int64(0);
}

std::optional<millis> oldest_due_in(Database& db, const std::string& queue) {
    std::optional<millis> oldest;
    for (const auto& seeks : level_seeks) {
        for (auto level = seek(db, seeks.top, queue); level; level = seek(db, seeks.next_below, queue, level)) {
            const auto first = seek(db, seeks.oldest_at, queue, level);
            if (first && (!oldest || *first < *oldest)) oldest = first;
        }
    }
    return oldest;
}

constexpr std::string_view sql_by_id = "SELECT " JOBQ_JOB_COLUMNS " FROM jobs WHERE id = ?1";

std::optional<Job> find_one(Database& db, std::string_view sql, auto key) {
    auto s = db.cached(sql);
    s->bind(1, key);
    if (!s->step()) return std::nullopt;
    return read_job(*s);
}


// The stored row, built from what was inserted: cheaper than reading it back.
Job job_from_spec(core::JobSpec&& spec, core::job_id id, millis now) {
    Job job;
    job.id = id;
    job.type = std::move(spec.type);
    job.queue = std::move(spec.queue);
    job.priority = spec.priority;
    job.payload = std::move(spec.payload);
    job.state = core::JobState::queued;
    job.max_retries = spec.max_retries;
    job.run_at = spec.run_at;
    job.idempotency_key = std::move(spec.idempotency_key);
    job.created_at = now;
    job.external = spec.external;
    return job;
}

}  // namespace

std::optional<std::int64_t> single_optional(Database& db, std::string_view sql, std::optional<std::int64_t> param) {
    auto s = db.cached(sql);
    if (param) s->bind(1, *param);
    s->step();
    return s->column_optional_int64(0);
}

Job read_job(const Statement& s) {
    Job job;
    job.id = s.column_int64(0);
    job.type = s.column_text(1);
    job.queue = s.column_text(2);
    job.priority = s.column_int64(3);
    job.payload = s.column_text(4);
    job.state = core::parse_job_state(s.column_text(5)).value_or(core::JobState::failed);
    job.attempts = static_cast<std::int32_t>(s.column_int64(6));
    job.max_retries = static_cast<std::int32_t>(s.column_int64(7));
    job.run_at = s.column_int64(8);
    job.lease_expires_at = s.column_optional_int64(9);
    job.idempotency_key = s.column_optional_text(10);
    job.last_error = s.column_optional_text(11);
    job.created_at = s.column_int64(12);
    job.started_at = s.column_optional_int64(13);
    job.finished_at = s.column_optional_int64(14);
    job.attempt_base = static_cast<std::int32_t>(s.column_int64(15));
    job.external = s.column_int64(16) != 0;
    job.worker = s.column_optional_text(17);
    job.result = s.column_optional_text(18);
    return job;
}

std::optional<Job> find_job(Database& db, core::job_id id) { return find_one(db, sql_by_id, id); }

core::EnqueueResult insert_job(Database& db, core::JobChanges& changes, core::JobSpec& spec, millis now) {
    // The same key always answers the same job. Looked up first, not left to the insert's
    // conflict clause: under AUTOINCREMENT an insert that does nothing still uses up an id.
    if (spec.idempotency_key) {
        if (auto existing = find_one(db, sql_by_key, std::string_view(*spec.idempotency_key)))
            return {std::move(*existing), false};
    }
    auto s = db.cached(sql_insert);
    s->bind(1, spec.type).bind(2, spec.queue).bind(3, spec.priority).bind(4, spec.payload);
    s->bind(5, std::int64_t{spec.max_retries}).bind(6, spec.run_at).bind(7, spec.idempotency_key).bind(8, now);
    s->bind(9, std::int64_t{spec.external ? 1 : 0});
    if (s->run() != 1) throw core::StorageError("idempotency key conflict without an existing job");
    changes.moved(spec.queue, spec.type, std::nullopt, core::JobState::queued, core::JobEvent::enqueued);
    return {job_from_spec(std::move(spec), db.last_insert_rowid(), now), true};
}

std::optional<std::string> json_name_list(const std::vector<std::string>& names) {
    if (names.empty()) return std::nullopt;
    boost::json::array array;
    for (const auto& name : names) array.emplace_back(name);
    return boost::json::serialize(array);
}

void mark_due(Database& db, millis now) { db.cached(sql_mark_due)->bind(1, now).run(); }

std::optional<millis> earliest_waiting(Database& db) { return single_optional(db, sql_earliest_waiting, std::nullopt); }

std::map<std::string, millis> oldest_runnable_by_queue(Database& db, const std::vector<std::string>& queues,
                                                      millis now, const std::optional<std::string>& only) {
    // One read transaction, so every seek sees the same state: a claim marking jobs due
    // between them would hide those jobs from both kinds.
    ReadTransaction read(db);
    std::map<std::string, millis> oldest;
    for (const auto& queue : queues)
        if (const auto first = oldest_due_in(db, queue)) oldest.emplace(queue, *first);
    auto s = db.cached(sql_overdue_by_queue);
    s->bind(1, now).bind(2, only);
    while (s->step()) {
        const auto [entry, added] = oldest.try_emplace(s->column_text(0), s->column_int64(1));
        if (!added) entry->second = std::min(entry->second, s->column_int64(1));
    }
    return oldest;
}

std::optional<millis> oldest_runnable_at(Database& db, const std::vector<std::string>& queues, millis now) {
    ReadTransaction read(db);
    std::optional<millis> oldest;
    for (const auto& queue : queues)
        if (const auto first = oldest_due_in(db, queue)) oldest = std::min(oldest.value_or(*first), *first);
    if (const auto waiting = earliest_waiting(db); waiting && *waiting <= now)
        oldest = std::min(oldest.value_or(*waiting), *waiting);
    return oldest;
}

}  // namespace jobq::storage
