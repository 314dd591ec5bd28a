// The operator's operations (core::JobAdmin) of SqliteJobStore. Changes go through group
// commit like every write; reads run on the read-only connections; counts and history come
// from memory.

#include "storage/sqlite/job_rows.hpp"
#include "storage/sqlite/sqlite_job_store.hpp"

#include <limits>
#include <tuple>

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
    "DELETE FROM jobs WHERE id IN (SELECT id FROM jobs WHERE state = ?1 AND finished_at < ?2 LIMIT ?3) "
    "RETURNING queue, type";

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

// The index a filtered listing walks: the one of the filter that matches the fewest jobs
// by the kept counts, so the walk passes over at most that many rows. Each is in id order.
std::string_view listing_index(const core::JobFilter& filter, const std::vector<core::JobCount>& counts) {
    std::int64_t state_rows = 0, type_rows = 0, queue_rows = 0;
    for (const auto& c : counts) {
        if (filter.state && c.state == *filter.state) state_rows += c.count;
        if (filter.type && c.type == *filter.type) type_rows += c.count;
        if (filter.queue && c.queue == *filter.queue) queue_rows += c.count;
    }
    std::string_view index;
    std::int64_t fewest = std::numeric_limits<std::int64_t>::max();
    for (const auto& [wanted, rows, name] : {std::tuple{filter.state.has_value(), state_rows, "jobs_state"},
                                             std::tuple{filter.type.has_value(), type_rows, "jobs_type"},
                                             std::tuple{filter.queue.has_value(), queue_rows, "jobs_queue"}}) {
        if (wanted && rows < fewest) {
            fewest = rows;
            index = name;
        }
    }
    return index;
}

std::string listing_sql(const core::JobFilter& filter, std::string_view index) {
    std::string sql = "SELECT " JOBQ_JOB_COLUMNS " FROM jobs";
    if (!index.empty()) sql.append(" INDEXED BY ").append(index);
    sql += " WHERE id > ?1";
    if (filter.state) sql += " AND state = ?2";
    if (filter.type) sql += " AND type = ?3";
    if (filter.queue) sql += " AND queue = ?4";
    sql += " ORDER BY id LIMIT ?5";
    return sql;
}

core::JobPage list_page(Database& db, const core::JobFilter& filter, std::string_view index, core::job_id after,
                        std::size_t limit) {
    auto s = db.cached(listing_sql(filter, index));
    s->bind(1, after);
    if (filter.state) s->bind(2, core::to_string(*filter.state));
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
    const std::string index(listing_index(filter, kept_->counts().snapshot()));
    return read<core::JobPage>([filter = std::move(filter), index, after, limit](Database& db) {
        return list_page(db, filter, index, after.value_or(0), limit);
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

std::vector<core::JobCount> SqliteJobStore::counts() const { return kept_->counts().snapshot(); }

core::HistoryWindow SqliteJobStore::history(std::size_t seconds, std::int64_t now_second) const {
    return kept_->history().window(seconds, now_second);
}

boost::asio::awaitable<std::optional<millis>> SqliteJobStore::oldest_runnable(millis now) {
    return read<std::optional<millis>>([now](Database& db) { return oldest_runnable_at(db, now); });
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
