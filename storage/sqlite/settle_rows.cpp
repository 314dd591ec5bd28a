#include "storage/sqlite/settle_rows.hpp"

#include <algorithm>

namespace jobq::storage {

namespace {

// Fencing: every settlement names the attempt it ends. No RETURNING for the job's queue
// and type: SQLite builds a temporary table for it, which costs more than the update.
// The queue and type a settlement carries (?6, ?7) must be the job's, or the counts would
// drift: a settlement naming others is refused like a stale attempt.
#define JOBQ_SETTLED_JOB "WHERE id = ?1 AND state = 'processing' AND attempts = ?2 AND (?6 IS NULL OR (queue = ?6 AND type = ?7))"
constexpr std::string_view sql_done =
    "UPDATE jobs SET state = 'done', finished_at = ?3, lease_expires_at = NULL, lease_token = NULL, worker = NULL "
    JOBQ_SETTLED_JOB;
constexpr std::string_view sql_retry =
    "UPDATE jobs SET state = 'queued', run_at = ?4, due = ?4 <= ?3, last_error = ?5, lease_expires_at = NULL, "
    "lease_token = NULL, worker = NULL " JOBQ_SETTLED_JOB;
constexpr std::string_view sql_failed =
    "UPDATE jobs SET state = 'failed', finished_at = ?3, last_error = ?5, lease_expires_at = NULL, lease_token = NULL, "
    "worker = NULL " JOBQ_SETTLED_JOB;
constexpr std::string_view sql_released =
    "UPDATE jobs SET state = 'queued', run_at = ?4, due = ?4 <= ?3, attempts = attempts - 1, lease_expires_at = NULL, "
    "lease_token = NULL, worker = NULL " JOBQ_SETTLED_JOB;
#undef JOBQ_SETTLED_JOB
constexpr std::string_view sql_queue_and_type = "SELECT queue, type FROM jobs WHERE id = ?1";
// Attempt numbers never repeat (attempts only grows, see schema v4), so a record never
// replaces another. Were one to collide, the outcome still counts: the history must not be
// what keeps a job from moving on.
// The attempt's start is the job's started_at, which its settlement leaves as it was.
constexpr std::string_view sql_record_attempt =
    "INSERT INTO job_attempts (job_id, attempt, finished_at, outcome, error, started_at) "
    "SELECT ?1, ?2, ?3, ?4, ?5, started_at FROM jobs WHERE id = ?1 ON CONFLICT DO NOTHING";
constexpr std::string_view sql_keep_result = "UPDATE jobs SET result = ?2 WHERE id = ?1";

struct SettledAs {
    std::string_view sql;
    core::JobState state;
    std::optional<core::JobEvent> event;  // a released attempt is not counted
};

SettledAs settled_as(core::Settlement::Kind kind) {
    using Kind = core::Settlement::Kind;
    using core::JobEvent;
    using core::JobState;
    switch (kind) {
        case Kind::done: return {sql_done, JobState::done, JobEvent::done};
        case Kind::retry: return {sql_retry, JobState::queued, JobEvent::retried};
        case Kind::failed: return {sql_failed, JobState::failed, JobEvent::failed};
        case Kind::released: return {sql_released, JobState::queued, std::nullopt};
    }
    throw core::StorageError("unknown settlement");
}

}  // namespace

bool settle_row(Database& db, core::JobChanges& changes, const core::Settlement& st) {
    using Kind = core::Settlement::Kind;
    const auto as = settled_as(st.kind);
    const bool named = !st.queue.empty() && !st.type.empty();
    auto s = db.cached(as.sql);
    s->bind(1, st.id).bind(2, std::int64_t{st.attempt}).bind(3, st.at);
    if (st.kind == Kind::retry || st.kind == Kind::failed) s->bind(4, st.run_at).bind(5, st.error);
    if (st.kind == Kind::released) s->bind(4, std::max(st.run_at, st.at));  // a release may ask for a delay
    if (named) s->bind(6, st.queue).bind(7, st.type);
    if (s->run() == 0) return false;
    if (named) {
        changes.moved(st.queue, st.type, core::JobState::processing, as.state, as.event);
    } else {
        auto found = db.cached(sql_queue_and_type);
        found->bind(1, st.id);
        if (!found->step()) throw core::StorageError("settle: job " + std::to_string(st.id) + " vanished");
        changes.moved(found->column_text(0), found->column_text(1), core::JobState::processing, as.state, as.event);
    }
    if (st.kind == Kind::done && st.result) db.cached(sql_keep_result)->bind(1, st.id).bind(2, *st.result).run();
    if (st.kind == Kind::retry || st.kind == Kind::failed)
        db.cached(sql_record_attempt)
            ->bind(1, st.id)
            .bind(2, std::int64_t{st.attempt})
            .bind(3, st.at)
            .bind(4, st.kind == Kind::retry ? std::string_view("retryable") : std::string_view("failed"))
            .bind(5, st.error)
            .run();
    return true;
}

}  // namespace jobq::storage
