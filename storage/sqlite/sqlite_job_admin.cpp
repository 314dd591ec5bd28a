// The operator's operations (core::JobAdmin) of SqliteJobStore. Changes go through group
// commit like every write; reads run on the read-only connections; counts and history come
// from memory.

#include "storage/sqlite/job_rows.hpp"
#include "storage/sqlite/sqlite_job_store.hpp"

#include <algorithm>


namespace jobq::storage {

using core::Job;
using core::JobChange;
using core::millis;

namespace {

constexpr std::string_view sql_retry =
    "UPDATE jobs SET state = 'queued', attempt_base = attempts, run_at = ?2, due = 1, lease_expires_at = NULL, "
    "started_at = NULL, finished_at = NULL WHERE id = ?1 AND (state = 'failed' OR state = 'cancelled') "
    "RETURNING " JOBQ_JOB_COLUMNS;
constexpr std::string_view sql_cancel =
    "UPDATE jobs SET state = 'cancelled', finished_at = ?2 WHERE id = ?1 AND state = 'queued' "
    "RETURNING " JOBQ_JOB_COLUMNS;
constexpr std::string_view sql_delete = "DELETE FROM jobs WHERE id = ?1 AND state <> 'processing'";
constexpr std::string_view sql_probe_insert =
    "INSERT INTO jobs (type, queue, priority, payload, state, max_retries, run_at, created_at) "
    "VALUES ('readiness probe', 'readiness probe', 0, zeroblob(4096), 'cancelled', 0, 0, 0)";

constexpr std::string_view sql_delete_expired =
    "DELETE FROM jobs WHERE id IN (SELECT id FROM jobs INDEXED BY jobs_finished "
    "WHERE state = ?1 AND finished_at < ?2 LIMIT ?3) "
    "RETURNING queue, type";

// Bulk actions (core::OperatorActions): each step covers a window of at most bulk_window
// ids, read by rowid, from the first id of the state after the cursor (found through
// jobs_state, which holds queued, failed and cancelled jobs in id order; done jobs are
// stepped through in id order). The states are written out: a partial index is usable
// only when the query names what it holds.
constexpr std::string_view sql_last_id = "SELECT IFNULL(MAX(id), 0) FROM jobs";
#define JOBQ_FIRST_AFTER(state) \
    "SELECT id FROM jobs INDEXED BY jobs_state WHERE state = '" state "' AND id > ?1 ORDER BY id LIMIT 1"
constexpr std::string_view sql_first_queued_after = JOBQ_FIRST_AFTER("queued");
constexpr std::string_view sql_first_failed_after = JOBQ_FIRST_AFTER("failed");
constexpr std::string_view sql_first_cancelled_after = JOBQ_FIRST_AFTER("cancelled");
#undef JOBQ_FIRST_AFTER
// ?1 the queue, ?2 now, ?3 and ?4 the window's first and last id.
constexpr std::string_view sql_retry_failed_window =
    "UPDATE jobs SET state = 'queued', attempt_base = attempts, run_at = ?2, due = 1, lease_expires_at = NULL, "
    "started_at = NULL, finished_at = NULL WHERE id BETWEEN ?3 AND ?4 AND state = 'failed' AND queue = ?1 "
    "RETURNING queue, type";
#define JOBQ_PURGE_WINDOW(state) \
    "DELETE FROM jobs WHERE id BETWEEN ?3 AND ?4 AND state = '" state "' AND queue = ?1 RETURNING queue, type"
constexpr std::string_view sql_purge_queued = JOBQ_PURGE_WINDOW("queued");
constexpr std::string_view sql_purge_failed = JOBQ_PURGE_WINDOW("failed");
constexpr std::string_view sql_purge_cancelled = JOBQ_PURGE_WINDOW("cancelled");
constexpr std::string_view sql_purge_done = JOBQ_PURGE_WINDOW("done");
#undef JOBQ_PURGE_WINDOW

std::string_view first_after_statement(core::JobState state) {
    switch (state) {
        case core::JobState::queued: return sql_first_queued_after;
        case core::JobState::failed: return sql_first_failed_after;
        case core::JobState::cancelled: return sql_first_cancelled_after;
        case core::JobState::done:
        case core::JobState::processing: break;
    }
    return {};  // not in jobs_state: stepped through in id order
}

std::string_view purge_statement(core::JobState state) {
    switch (state) {
        case core::JobState::queued: return sql_purge_queued;
        case core::JobState::failed: return sql_purge_failed;
        case core::JobState::cancelled: return sql_purge_cancelled;
        case core::JobState::done: return sql_purge_done;
        case core::JobState::processing: break;
    }
    return {};
}

// One step of a bulk action over `state`'s jobs of `queue`: `sql` changes the window's
// (?1 queue, ?2 now, ?3..?4 the window) and answers each row's queue and type.
core::BulkStep bulk_step(Database& db, core::JobChanges& changes, std::string_view sql, const std::string& queue,
                         core::JobState from, std::optional<core::JobState> to, millis now, core::job_id after,
                         std::optional<core::job_id> up_to) {
    core::BulkStep step;
    step.up_to = up_to ? *up_to : [&] {
        auto s = db.cached(sql_last_id);
        s->step();
        return s->column_int64(0);
    }();
    core::job_id first = after + 1;
    if (const auto seek = first_after_statement(from); !seek.empty()) {
        auto s = db.cached(seek);
        s->bind(1, after);
        if (!s->step()) return step;  // none left
        first = s->column_int64(0);
    }
    if (first > step.up_to) return step;
    const core::job_id last = std::min<core::job_id>(first + static_cast<core::job_id>(core::bulk_window) - 1, step.up_to);
    auto s = db.cached(sql);
    s->bind(1, queue).bind(2, now).bind(3, first).bind(4, last);
    for (; s->step(); ++step.changed) changes.moved(s->column_text(0), s->column_text(1), from, to);
    if (last < step.up_to) step.next = last;
    return step;
}

std::size_t delete_expired_rows(Database& db, core::JobChanges& changes, std::optional<millis> finished_before,
                                std::optional<millis> failed_before, std::size_t limit) {
    const std::pair<core::JobState, std::optional<millis>> rules[] = {{core::JobState::done, finished_before},
                                                                      {core::JobState::cancelled, finished_before},
                                                                      {core::JobState::failed, failed_before}};
    std::size_t deleted = 0;
    for (const auto& [state, before] : rules) {
        if (!before || deleted >= limit) continue;
        auto s = db.cached(sql_delete_expired);
        s->bind(1, core::to_string(state)).bind(2, *before).bind(3, static_cast<std::int64_t>(limit - deleted));
        for (; s->step(); ++deleted) changes.moved(s->column_text(0), s->column_text(1), state, std::nullopt);
    }
    return deleted;
}

// Runs an update of one job that answers the changed row (RETURNING): changed, or not
// found, or a conflict when the job's state forbids the change.
JobChange change_returning(Database& db, core::JobChanges& changes, std::string_view sql, core::job_id id, millis now) {
    auto before = find_job(db, id);
    if (!before) return {JobChange::Outcome::not_found, std::nullopt};
    auto s = db.cached(sql);
    s->bind(1, id).bind(2, now);
    if (!s->step()) return {JobChange::Outcome::conflict, std::move(before)};
    Job after = read_job(*s);
    changes.moved(after.queue, after.type, before->state, after.state);
    return {JobChange::Outcome::changed, std::move(after)};
}

JobChange remove_job(Database& db, core::JobChanges& changes, core::job_id id) {
    auto job = find_job(db, id);
    if (!job) return {JobChange::Outcome::not_found, std::nullopt};
    if (db.cached(sql_delete)->bind(1, id).run() != 1) return {JobChange::Outcome::conflict, std::move(job)};
    changes.moved(job->queue, job->type, job->state, std::nullopt);
    return {JobChange::Outcome::changed, std::move(job)};
}

// Where a listing reads, by its state: the jobs of that state in jobs_state (queued,
// failed, cancelled), in id order; the processing ones in jobs_leases, sorted (as many as
// there are leases); otherwise the table in id order. A filter by type or queue passes
// over the rows it leaves out. The state is written into the text, a name from a fixed
// set: a partial index serves a query only when its terms prove the index's WHERE.
std::string listing_sql(const core::JobFilter& filter) {
    using core::JobState;
    std::string sql = "SELECT " JOBQ_JOB_COLUMNS " FROM jobs";
    const auto state = filter.state;
    if (state == JobState::queued || state == JobState::failed || state == JobState::cancelled)
        sql += " INDEXED BY jobs_state";
    else if (state == JobState::processing)
        sql += " INDEXED BY jobs_leases";
    else
        sql += " NOT INDEXED";  // the rowid still bounds the range
    sql += " WHERE id > ?1";
    if (state) sql.append(" AND state = '").append(core::to_string(*state)).append("'");
    if (filter.type) sql += " AND type = ?3";
    if (filter.queue) sql += " AND queue = ?4";
    sql += " ORDER BY id LIMIT ?5";
    return sql;
}

// True when the kept counts hold no job the filter matches: its page is empty, whatever
// number of rows its index would have walked to find that out.
bool none_match(const core::JobFilter& filter, const std::vector<core::JobCount>& counts) {
    return std::none_of(counts.begin(), counts.end(), [&](const core::JobCount& c) {
        return (!filter.state || c.state == *filter.state) && (!filter.type || c.type == *filter.type) &&
               (!filter.queue || c.queue == *filter.queue);
    });
}

core::JobPage list_page(Database& db, const core::JobFilter& filter, core::job_id after, std::size_t limit) {
    auto s = db.cached(listing_sql(filter));
    s->bind(1, after);
    if (filter.type) s->bind(3, *filter.type);
    if (filter.queue) s->bind(4, *filter.queue);
    s->bind(5, static_cast<std::int64_t>(limit + 1));
    core::JobPage page;
    while (s->step()) page.jobs.push_back(read_job(*s));
    // One row more than asked for says there is a next page.
    if (page.jobs.size() > limit) {
        page.jobs.pop_back();
        page.next_cursor = page.jobs.back().id;
    }
    return page;
}

}  // namespace

boost::asio::awaitable<std::vector<core::EnqueueResult>> SqliteJobStore::enqueue_batch(std::vector<core::JobSpec> specs) {
    return in_transaction<std::vector<core::EnqueueResult>>(
        [specs = std::move(specs)](Database& db, core::JobChanges& changes) mutable {
            const millis now = core::system_now_ms();
            std::vector<core::EnqueueResult> results;
            results.reserve(specs.size());
            for (auto& spec : specs) results.push_back(insert_job(db, changes, spec, now));
            return results;
        });
}

boost::asio::awaitable<core::JobPage> SqliteJobStore::list(core::JobFilter filter, std::optional<core::job_id> after,
                                                           std::size_t limit) {
    const bool empty = none_match(filter, kept_->counts().snapshot());
    return read<core::JobPage>([filter = std::move(filter), after, limit, empty](Database& db) {
        return empty ? core::JobPage{} : list_page(db, filter, after.value_or(0), limit);
    });
}

boost::asio::awaitable<JobChange> SqliteJobStore::retry(core::job_id id, millis now) {
    return in_transaction<JobChange>(
        [id, now](Database& db, core::JobChanges& changes) { return change_returning(db, changes, sql_retry, id, now); });
}

boost::asio::awaitable<JobChange> SqliteJobStore::cancel(core::job_id id, millis now) {
    return in_transaction<JobChange>(
        [id, now](Database& db, core::JobChanges& changes) { return change_returning(db, changes, sql_cancel, id, now); });
}

boost::asio::awaitable<JobChange> SqliteJobStore::remove(core::job_id id) {
    return in_transaction<JobChange>(
        [id](Database& db, core::JobChanges& changes) { return remove_job(db, changes, id); });
}

boost::asio::awaitable<core::BulkStep> SqliteJobStore::retry_failed(std::string queue, millis now, core::job_id after,
                                                                    std::optional<core::job_id> up_to) {
    return in_transaction<core::BulkStep>(
        [queue = std::move(queue), now, after, up_to](Database& db, core::JobChanges& changes) {
            return bulk_step(db, changes, sql_retry_failed_window, queue, core::JobState::failed, core::JobState::queued,
                             now, after, up_to);
        });
}

boost::asio::awaitable<core::BulkStep> SqliteJobStore::purge(std::string queue, core::JobState state, core::job_id after,
                                                             std::optional<core::job_id> up_to) {
    return in_transaction<core::BulkStep>(
        [queue = std::move(queue), state, after, up_to](Database& db, core::JobChanges& changes) {
            const auto sql = purge_statement(state);
            if (sql.empty()) return core::BulkStep{};  // processing: running jobs are never purged
            return bulk_step(db, changes, sql, queue, state, std::nullopt, 0, after, up_to);
        });
}

std::vector<core::JobCount> SqliteJobStore::counts() const { return kept_->counts().snapshot(); }

core::HistoryWindow SqliteJobStore::history(std::size_t seconds, std::int64_t now_second) const {
    return kept_->history().window(seconds, now_second);
}

namespace {

constexpr std::string_view sql_attempts =
    "SELECT attempt, outcome, error, started_at, finished_at FROM job_attempts WHERE job_id = ?1 ORDER BY attempt";

// The recorded attempts, and the job's last one when it is running or succeeded (it is
// recorded only when it fails). One read transaction: the job and its history agree.
std::optional<std::vector<core::JobAttempt>> read_attempts(Database& db, core::job_id id) {
    ReadTransaction read(db);
    auto job = find_job(db, id);
    if (!job) return std::nullopt;
    std::vector<core::JobAttempt> attempts;
    auto s = db.cached(sql_attempts);
    s->bind(1, id);
    while (s->step())
        attempts.push_back({static_cast<std::int32_t>(s->column_int64(0)), s->column_text(1), s->column_optional_text(2),
                            s->column_optional_int64(3), s->column_optional_int64(4)});
    // The job's current attempt is recorded only if it failed.
    if (job->state == core::JobState::processing)
        attempts.push_back({job->attempts, "running", std::nullopt, job->started_at, std::nullopt});
    if (job->state == core::JobState::done)
        attempts.push_back({job->attempts, "succeeded", std::nullopt, job->started_at, job->finished_at});
    return attempts;
}

}  // namespace

boost::asio::awaitable<std::optional<std::vector<core::JobAttempt>>> SqliteJobStore::attempts(core::job_id id) {
    return read<std::optional<std::vector<core::JobAttempt>>>([id](Database& db) { return read_attempts(db, id); });
}

boost::asio::awaitable<std::optional<millis>> SqliteJobStore::oldest_runnable(millis now) {
    return read<std::optional<millis>>(
        [now, queues = queues_with_queued_jobs()](Database& db) { return oldest_runnable_at(db, queues, now); });
}

namespace {

// jobs_leases holds the processing jobs only: as many rows as jobs running now.
constexpr std::string_view sql_leases_by_worker =
    "SELECT worker, COUNT(*) FROM jobs INDEXED BY jobs_leases WHERE state = 'processing' AND worker IS NOT NULL "
    "GROUP BY worker ORDER BY worker";

}  // namespace

boost::asio::awaitable<std::vector<core::WorkerLeases>> SqliteJobStore::leases_by_worker() {
    return read<std::vector<core::WorkerLeases>>([](Database& db) {
        std::vector<core::WorkerLeases> out;
        auto s = db.cached(sql_leases_by_worker);
        while (s->step()) out.push_back({s->column_text(0), s->column_int64(1)});
        return out;
    });
}

boost::asio::awaitable<std::size_t> SqliteJobStore::delete_expired(std::optional<core::millis> finished_before,
                                                                    std::optional<core::millis> failed_before,
                                                                    std::size_t limit) {
    return in_transaction<std::size_t>([=](Database& db, core::JobChanges& changes) {
        return delete_expired_rows(db, changes, finished_before, failed_before, limit);
    });
}

boost::asio::awaitable<bool> SqliteJobStore::writable() {
    return in_transaction<bool>([](Database& db, core::JobChanges&) {
        // A row of a page's size is inserted and rolled back: when the database cannot grow
        // by a page (its size limit reached, the disk full) this fails as a submission would.
        db.exec("SAVEPOINT readiness");
        try {
            db.exec(sql_probe_insert);
        } catch (...) {
            db.exec("ROLLBACK TO readiness; RELEASE readiness");
            throw;
        }
        db.exec("ROLLBACK TO readiness; RELEASE readiness");
        // Rewriting the schema version writes the database header: a real page in the WAL
        // and an fsync at commit, so a full disk or a read-only file fails too.
        db.set_user_version(db.user_version());
        return true;
    });
}

}  // namespace jobq::storage
