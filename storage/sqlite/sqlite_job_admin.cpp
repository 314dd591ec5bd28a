// The operator's operations (core::JobAdmin) of SqliteJobStore. Changes go through group
// commit like every write; reads run on the DB thread between batches.

#include "storage/sqlite/job_rows.hpp"
#include "storage/sqlite/sqlite_job_store.hpp"

namespace jobq::storage {

using core::Job;
using core::JobChange;
using core::millis;

namespace {

constexpr std::string_view sql_list =
    "SELECT " JOBQ_JOB_COLUMNS " FROM jobs "
    "WHERE id > ?1 AND (?2 IS NULL OR state = ?2) AND (?3 IS NULL OR type = ?3) AND (?4 IS NULL OR queue = ?4) "
    "ORDER BY id LIMIT ?5";
constexpr std::string_view sql_retry =
    "UPDATE jobs SET state = 'queued', attempt_base = attempts, run_at = ?2, due = 1, lease_expires_at = NULL, "
    "started_at = NULL, finished_at = NULL WHERE id = ?1 AND state IN ('failed', 'cancelled') RETURNING " JOBQ_JOB_COLUMNS;
constexpr std::string_view sql_cancel =
    "UPDATE jobs SET state = 'cancelled', finished_at = ?2 WHERE id = ?1 AND state = 'queued' "
    "RETURNING " JOBQ_JOB_COLUMNS;
constexpr std::string_view sql_delete = "DELETE FROM jobs WHERE id = ?1 AND state <> 'processing'";
constexpr std::string_view sql_probe_insert =
    "INSERT INTO jobs (type, queue, priority, payload, state, max_retries, run_at, created_at) "
    "VALUES ('readiness probe', 'readiness probe', 0, zeroblob(4096), 'cancelled', 0, 0, 0)";
constexpr std::string_view sql_counts =
    "SELECT state, queue, type, COUNT(*) FROM jobs GROUP BY state, queue, type";

constexpr std::string_view sql_delete_expired =
    "DELETE FROM jobs WHERE id IN (SELECT id FROM jobs WHERE state = ?1 AND finished_at < ?2 LIMIT ?3)";

std::size_t delete_expired_rows(Database& db, std::optional<millis> finished_before, std::optional<millis> failed_before,
                                std::size_t limit) {
    const std::pair<std::string_view, std::optional<millis>> rules[] = {
        {"done", finished_before}, {"cancelled", finished_before}, {"failed", failed_before}};
    std::size_t deleted = 0;
    for (const auto& [state, before] : rules) {
        if (!before || deleted >= limit) continue;
        auto s = db.cached(sql_delete_expired);
        s->bind(1, state).bind(2, *before).bind(3, static_cast<std::int64_t>(limit - deleted));
        deleted += static_cast<std::size_t>(s->run());
    }
    return deleted;
}

// The update matched no row: either there is no such job or its state forbids the change.
JobChange unchanged(Database& db, core::job_id id) {
    auto job = find_job(db, id);
    if (!job) return {JobChange::Outcome::not_found, std::nullopt};
    return {JobChange::Outcome::conflict, std::move(job)};
}

JobChange change_returning(Database& db, std::string_view sql, core::job_id id, millis now) {
    auto s = db.cached(sql);
    s->bind(1, id).bind(2, now);
    if (s->step()) return {JobChange::Outcome::changed, read_job(*s)};
    return unchanged(db, id);
}

core::JobPage list_page(Database& db, const core::JobFilter& filter, core::job_id after, std::size_t limit) {
    auto s = db.cached(sql_list);
    s->bind(1, after);
    if (filter.state) s->bind(2, core::to_string(*filter.state));
    else s->bind_null(2);
    s->bind(3, filter.type).bind(4, filter.queue).bind(5, static_cast<std::int64_t>(limit + 1));
    core::JobPage page;
    while (s->step()) page.jobs.push_back(read_job(*s));
    // One row more than asked for says there is a next page.
    if (page.jobs.size() > limit) {
        page.jobs.pop_back();
        page.next_cursor = page.jobs.back().id;
    }
    return page;
}

std::vector<core::JobCount> count_jobs(Database& db) {
    std::vector<core::JobCount> counts;
    auto s = db.cached(sql_counts);
    while (s->step()) {
        const auto state = core::parse_job_state(s->column_text(0));
        if (!state) continue;  // the CHECK constraint makes this unreachable
        counts.push_back({*state, s->column_text(1), s->column_text(2), s->column_int64(3)});
    }
    return counts;
}

}  // namespace

boost::asio::awaitable<std::vector<core::EnqueueResult>> SqliteJobStore::enqueue_batch(std::vector<core::JobSpec> specs) {
    return in_transaction<std::vector<core::EnqueueResult>>([specs = std::move(specs)](Database& db) mutable {
        const millis now = core::system_now_ms();
        std::vector<core::EnqueueResult> results;
        results.reserve(specs.size());
        for (auto& spec : specs) results.push_back(insert_job(db, spec, now));
        return results;
    });
}

boost::asio::awaitable<core::JobPage> SqliteJobStore::list(core::JobFilter filter, std::optional<core::job_id> after,
                                                           std::size_t limit) {
    return on_db_thread<core::JobPage>([filter = std::move(filter), after, limit](Database& db) {
        return list_page(db, filter, after.value_or(0), limit);
    });
}

boost::asio::awaitable<JobChange> SqliteJobStore::retry(core::job_id id, millis now) {
    return in_transaction<JobChange>([id, now](Database& db) { return change_returning(db, sql_retry, id, now); });
}

boost::asio::awaitable<JobChange> SqliteJobStore::cancel(core::job_id id, millis now) {
    return in_transaction<JobChange>([id, now](Database& db) { return change_returning(db, sql_cancel, id, now); });
}

boost::asio::awaitable<JobChange> SqliteJobStore::remove(core::job_id id) {
    return in_transaction<JobChange>([id](Database& db) {
        auto job = find_job(db, id);
        if (db.cached(sql_delete)->bind(1, id).run() == 1) return JobChange{JobChange::Outcome::changed, std::move(job)};
        return unchanged(db, id);
    });
}

boost::asio::awaitable<std::vector<core::JobCount>> SqliteJobStore::counts() {
    return on_db_thread<std::vector<core::JobCount>>([](Database& db) { return count_jobs(db); });
}

boost::asio::awaitable<std::optional<millis>> SqliteJobStore::oldest_runnable(millis now) {
    return on_db_thread<std::optional<millis>>([now](Database& db) -> std::optional<millis> {
        return oldest_runnable_at(db, now);
    });
}

boost::asio::awaitable<std::size_t> SqliteJobStore::delete_expired(std::optional<millis> finished_before,
                                                                    std::optional<millis> failed_before,
                                                                    std::size_t limit) {
    return in_transaction<std::size_t>([=](Database& db) {
        return delete_expired_rows(db, finished_before, failed_before, limit);
    });
}

boost::asio::awaitable<bool> SqliteJobStore::writable() {
    return in_transaction<bool>([](Database& db) {
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
