#include "storage/job_rows.hpp"

namespace jobq::storage {

using core::Job;
using core::millis;

namespace {

// No RETURNING: SQLite buffers RETURNING rows in an ephemeral table per statement.
constexpr std::string_view sql_insert =
    "INSERT INTO jobs (type, queue, priority, payload, state, attempts, max_retries, run_at, idempotency_key, "
    "created_at) VALUES (?1, ?2, ?3, ?4, 'queued', 0, ?5, ?6, ?7, ?8) "
    "ON CONFLICT (idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING";
constexpr std::string_view sql_by_key = "SELECT " JOBQ_JOB_COLUMNS " FROM jobs WHERE idempotency_key = ?1";

// Queued jobs are visited one priority level at a time, from the highest down. Within one
// level the index (priority DESC, run_at, id) gives the due jobs as a range seek; a single
// query ordered by priority across levels would instead scan every queued row whenever
// the first ones are not due yet (a backlog of delayed jobs made each claim O(n)).
constexpr std::string_view sql_top_level = "SELECT MAX(priority) FROM jobs WHERE state = 'queued'";
constexpr std::string_view sql_next_level =
    "SELECT MAX(priority) FROM jobs WHERE state = 'queued' AND priority < ?1";
constexpr std::string_view sql_level_next_run =
    "SELECT MIN(run_at) FROM jobs WHERE state = 'queued' AND priority = ?1";
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
    return job;
}

}  // namespace

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
    return job;
}

std::optional<Job> find_job(Database& db, core::job_id id) { return find_one(db, sql_by_id, id); }

core::EnqueueResult insert_job(Database& db, core::JobSpec& spec, millis now) {
    {
        auto s = db.cached(sql_insert);
        s->bind(1, spec.type).bind(2, spec.queue).bind(3, spec.priority).bind(4, spec.payload);
        s->bind(5, std::int64_t{spec.max_retries}).bind(6, spec.run_at).bind(7, spec.idempotency_key).bind(8, now);
        if (s->run() == 1) return {job_from_spec(std::move(spec), db.last_insert_rowid(), now), true};
    }
    // No row: the idempotency key is taken. The same key always answers the same job.
    auto existing = find_one(db, sql_by_key, std::string_view(*spec.idempotency_key));
    if (!existing) throw core::StorageError("idempotency key conflict without an existing job");
    return {std::move(*existing), false};
}

std::optional<std::int64_t> next_priority_level(Database& db, std::optional<std::int64_t> below) {
    auto s = below ? db.cached(sql_next_level) : db.cached(sql_top_level);
    if (below) s->bind(1, *below);
    s->step();
    return s->column_optional_int64(0);
}

// The earliest run_at of any queued job: the minimum over the first entry of each level.
std::optional<millis> earliest_run_at(Database& db) {
    std::optional<millis> earliest;
    for (auto level = next_priority_level(db, std::nullopt); level; level = next_priority_level(db, level)) {
        auto s = db.cached(sql_level_next_run);
        s->bind(1, *level);
        s->step();
        const auto run_at = s->column_optional_int64(0);
        if (run_at && (!earliest || *run_at < *earliest)) earliest = run_at;
    }
    return earliest;
}

}  // namespace jobq::storage
