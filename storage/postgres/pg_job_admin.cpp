// The operator's operations (core::JobAdmin) of PgJobStore. Changes go through
// group commit like every write; reads go to the pool; counts and history come
// from memory.

#include "storage/postgres/arrays.hpp"
#include "storage/postgres/job_rows.hpp"
#include "storage/postgres/pg_job_store.hpp"

#include <algorithm>

namespace jobq::storage::pg {

namespace asio = boost::asio;
using core::Job;
using core::JobChange;
using core::millis;

namespace {

// An operator's change of one job: the job as it was, locked, then the change,
// which answers the row when the job's state allowed it. One round trip.
constexpr const char* sql_lock_job = "SELECT " JOBQ_PG_JOB_COLUMNS " FROM jobs WHERE id = $1 FOR UPDATE";
constexpr const char* sql_retry =
    "UPDATE jobs SET state = 'queued', attempt_base = attempts, run_at = $2, due = true, lease_expires_at = NULL, "
    "started_at = "
    "NULL, finished_at = NULL WHERE id = $1 AND state IN ('failed', 'cancelled') RETURNING " JOBQ_PG_JOB_COLUMNS;
constexpr const char* sql_cancel =
    "UPDATE jobs SET state = 'cancelled', finished_at = $2 WHERE id = $1 AND state = 'queued' "
    "RETURNING " JOBQ_PG_JOB_COLUMNS;
constexpr const char* sql_delete = "DELETE FROM jobs WHERE id = $1 AND state <> 'processing' RETURNING id";

// Bulk actions, as on SQLite: each step covers a window of at most bulk_window ids, from
// the first id of the state after the cursor (found through jobs_state, which holds the
// queued, failed and cancelled jobs in id order; done jobs are stepped through in id
// order), up to the id the first step found last. $1 queue, $2 state, $3 and $4 the
// window's first and last id, $5 now (a retry's).
constexpr const char* sql_last_id = "SELECT coalesce(max(id), 0) FROM jobs";
// The state written into the text, not a parameter: a plan made once for the statement
// (prepared) could not tell that the partial index jobs_state holds the rows.
std::string first_after(const std::string& state) {
    return "SELECT min(id) FROM jobs WHERE state = '" + state + "' AND id > $1";
}
constexpr const char* sql_retry_failed_window =
    "UPDATE jobs SET state = 'queued', attempt_base = attempts, run_at = $5, due = true, lease_expires_at = NULL, "
    "started_at = "
    "NULL, finished_at = NULL WHERE id BETWEEN $3 AND $4 AND state = $2 AND queue = $1 RETURNING queue, type";
constexpr const char* sql_purge_window =
    "DELETE FROM jobs WHERE id BETWEEN $3 AND $4 AND state = $2 AND queue = $1 RETURNING queue, type";

constexpr const char* sql_delete_expired =
    "DELETE FROM jobs WHERE id IN (SELECT id FROM jobs WHERE state = $1 AND finished_at < $2 AND finished_at IS NOT "
    "NULL LIMIT $3 FOR UPDATE SKIP LOCKED) RETURNING queue, type";

constexpr const char* sql_attempts =
    "SELECT attempt, outcome, error, started_at, finished_at FROM job_attempts WHERE job_id = $1 ORDER BY attempt";
constexpr const char* sql_leases_by_worker =
    "SELECT worker, count(*) FROM jobs WHERE state = 'processing' AND worker IS NOT NULL GROUP BY worker ORDER BY "
    "worker";

asio::awaitable<JobChange> change_one(Transaction& tx, const char* sql, core::job_id id, std::optional<millis> now) {
    auto change = Statement(sql, params(std::to_string(id)));
    if (now) change.params.push_back(std::to_string(*now));
    auto statements = batch(Statement(sql_lock_job, params(std::to_string(id))), std::move(change));
    auto results = co_await tx.run(std::move(statements));
    if (results[0].rows() == 0) co_return JobChange{JobChange::Outcome::not_found, std::nullopt};
    auto before = read_job(results[0], 0);
    if (results[1].rows() == 0) co_return JobChange{JobChange::Outcome::conflict, std::move(before)};
    auto after = read_job(results[1], 0);
    tx.changes().moved(after.queue, after.type, before.state, after.state);
    co_return JobChange{JobChange::Outcome::changed, std::move(after)};
}

asio::awaitable<JobChange> remove_one(Transaction& tx, core::job_id id) {
    auto statements =
        batch(Statement(sql_lock_job, params(std::to_string(id))), Statement(sql_delete, params(std::to_string(id))));
    auto results = co_await tx.run(std::move(statements));
    if (results[0].rows() == 0) co_return JobChange{JobChange::Outcome::not_found, std::nullopt};
    auto job = read_job(results[0], 0);
    if (results[1].rows() == 0) co_return JobChange{JobChange::Outcome::conflict, std::move(job)};
    tx.changes().moved(job.queue, job.type, job.state, std::nullopt);
    co_return JobChange{JobChange::Outcome::changed, std::move(job)};
}

asio::awaitable<core::BulkStep> bulk_step(Transaction& tx, const char* sql, std::string queue, core::JobState from,
                                          std::optional<core::JobState> to, millis now, core::job_id after,
                                          std::optional<core::job_id> up_to) {
    core::BulkStep step;
    const std::string state(core::to_string(from));
    if (up_to) {
        step.up_to = *up_to;
    } else {
        auto statements = batch(Statement(sql_last_id));
        auto last = co_await tx.run(std::move(statements));
        step.up_to = last[0].int64(0, 0);
    }
    core::job_id first = after + 1;
    if (from != core::JobState::done) {
        auto statements = batch(Statement(first_after(state), params(std::to_string(after))));
        auto found = co_await tx.run(std::move(statements));
        if (found[0].is_null(0, 0)) co_return step;  // none left
        first = found[0].int64(0, 0);
    }
    if (first > step.up_to) co_return step;
    const core::job_id last =
        std::min<core::job_id>(first + static_cast<core::job_id>(core::bulk_window) - 1, step.up_to);
    auto window = params(queue, state, std::to_string(first), std::to_string(last));
    if (to) window.push_back(std::to_string(now));  // a retry's run_at
    auto statements = batch(Statement(sql, std::move(window)));
    auto results = co_await tx.run(std::move(statements));
    const Result& rows = results[0];
    for (int row = 0; row < rows.rows(); ++row) tx.changes().moved(rows.text(row, 0), rows.text(row, 1), from, to);
    step.changed = static_cast<std::size_t>(rows.rows());
    if (last < step.up_to) step.next = last;
    co_return step;
}

asio::awaitable<std::size_t> delete_expired_in(Transaction& tx, std::optional<millis> finished_before,
                                               std::optional<millis> failed_before, std::size_t limit) {
    const std::pair<core::JobState, std::optional<millis>> rules[] = {{core::JobState::done, finished_before},
                                                                      {core::JobState::cancelled, finished_before},
                                                                      {core::JobState::failed, failed_before}};
    std::size_t deleted = 0;
    for (const auto& [state, before] : rules) {
        if (!before || deleted >= limit) continue;
        auto statements =
            batch(Statement(sql_delete_expired, params(std::string(core::to_string(state)), std::to_string(*before),
                                                       std::to_string(limit - deleted))));
        auto results = co_await tx.run(std::move(statements));
        const Result& rows = results[0];
        for (int row = 0; row < rows.rows(); ++row)
            tx.changes().moved(rows.text(row, 0), rows.text(row, 1), state, std::nullopt);
        deleted += static_cast<std::size_t>(rows.rows());
    }
    co_return deleted;
}

// Id order, from the cursor; the filters the query names. One row more than
// asked for says there is a next page.
Statement listing(const core::JobFilter& filter, core::job_id after, std::size_t limit) {
    Statement s{"SELECT " JOBQ_PG_JOB_COLUMNS " FROM jobs WHERE id > $1", {std::to_string(after)}};
    const auto add = [&s](const char* column, std::string value) {
        s.params.push_back(std::move(value));
        s.sql += std::string(" AND ") + column + " = $" + std::to_string(s.params.size());
    };
    // The state in the text (one of five names), as in first_after.
    if (filter.state) s.sql.append(" AND state = '").append(core::to_string(*filter.state)).append("'");
    if (filter.type) add("type", *filter.type);
    if (filter.queue) add("queue", *filter.queue);
    s.params.push_back(std::to_string(limit + 1));
    s.sql += " ORDER BY id LIMIT $" + std::to_string(s.params.size());
    return s;
}

asio::awaitable<core::JobPage> page_of(asio::awaitable<std::vector<Result>> read, std::size_t limit) {
    auto results = co_await std::move(read);
    core::JobPage page;
    page.jobs = read_jobs(results[0]);
    if (page.jobs.size() > limit) {
        page.jobs.pop_back();
        page.next_cursor = page.jobs.back().id;
    }
    co_return page;
}

// Read in one snapshot: the job and its history agree.
asio::awaitable<std::optional<std::vector<core::JobAttempt>>> attempts_of(asio::awaitable<std::vector<Result>> read) {
    auto results = co_await std::move(read);
    if (results[1].rows() == 0) co_return std::nullopt;
    const auto job = read_job(results[1], 0);
    const Result& rows = results[2];
    std::vector<core::JobAttempt> attempts;
    for (int row = 0; row < rows.rows(); ++row)
        attempts.push_back({static_cast<std::int32_t>(rows.int64(row, 0)), std::string(rows.text(row, 1)),
                            rows.optional_text(row, 2), rows.optional_int64(row, 3), rows.optional_int64(row, 4)});
    // The job's current attempt is recorded only if it failed.
    if (job.state == core::JobState::processing)
        attempts.push_back({job.attempts, "running", std::nullopt, job.started_at, std::nullopt});
    if (job.state == core::JobState::done)
        attempts.push_back({job.attempts, "succeeded", std::nullopt, job.started_at, job.finished_at});
    co_return attempts;
}

asio::awaitable<std::optional<millis>> earliest_of(asio::awaitable<std::map<std::string, millis>> by_queue) {
    const auto oldest = co_await std::move(by_queue);
    std::optional<millis> earliest;
    for (const auto& [queue, at] : oldest) earliest = std::min(earliest.value_or(at), at);
    co_return earliest;
}

asio::awaitable<std::vector<core::WorkerLeases>> worker_leases(asio::awaitable<std::vector<Result>> read) {
    auto results = co_await std::move(read);
    std::vector<core::WorkerLeases> out;
    for (int row = 0; row < results[0].rows(); ++row)
        out.push_back({std::string(results[0].text(row, 0)), results[0].int64(row, 1)});
    co_return out;
}

asio::awaitable<core::BulkStep> no_step(Transaction&) {
    co_return core::BulkStep{};  // running jobs are never purged
}

asio::awaitable<bool> probe_write(Transaction& tx) {
    // An id for the transaction makes its COMMIT a real write: a commit record
    // flushed to the WAL, as a submission's.
    auto statements = batch(Statement("SELECT pg_current_xact_id()"));
    co_await tx.run(std::move(statements));
    co_return true;
}

}  // namespace

asio::awaitable<core::JobPage> PgJobStore::list(core::JobFilter filter, std::optional<core::job_id> after,
                                                std::size_t limit) {
    // Not answered empty from the counts, as on SQLite: another node's job may not be in
    // them yet, and a listing reads what is stored.
    return page_of(read({listing(filter, after.value_or(0), limit)}), limit);
}

asio::awaitable<JobChange> PgJobStore::retry(core::job_id id, millis now) {
    return in_transaction<JobChange>([id, now](Transaction& tx) { return change_one(tx, sql_retry, id, now); });
}

asio::awaitable<JobChange> PgJobStore::cancel(core::job_id id, millis now) {
    return in_transaction<JobChange>([id, now](Transaction& tx) { return change_one(tx, sql_cancel, id, now); });
}

asio::awaitable<JobChange> PgJobStore::remove(core::job_id id) {
    return in_transaction<JobChange>([id](Transaction& tx) { return remove_one(tx, id); });
}

asio::awaitable<core::BulkStep> PgJobStore::retry_failed(std::string queue, millis now, core::job_id after,
                                                         std::optional<core::job_id> up_to) {
    return in_transaction<core::BulkStep>([queue = std::move(queue), now, after, up_to](Transaction& tx) {
        return bulk_step(tx, sql_retry_failed_window, queue, core::JobState::failed, core::JobState::queued, now, after,
                         up_to);
    });
}

asio::awaitable<core::BulkStep> PgJobStore::purge(std::string queue, core::JobState state, core::job_id after,
                                                  std::optional<core::job_id> up_to) {
    if (state == core::JobState::processing) return in_transaction<core::BulkStep>(no_step);
    return in_transaction<core::BulkStep>([queue = std::move(queue), state, after, up_to](Transaction& tx) {
        return bulk_step(tx, sql_purge_window, queue, state, std::nullopt, 0, after, up_to);
    });
}

std::vector<core::JobCount> PgJobStore::counts() const {
    return counts_.counts().snapshot();
}

core::HistoryWindow PgJobStore::history(std::size_t seconds, std::int64_t now_second) const {
    return history_.window(seconds, now_second);
}

asio::awaitable<std::optional<std::vector<core::JobAttempt>>> PgJobStore::attempts(core::job_id id) {
    return attempts_of(read({{"BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"},
                             {"SELECT " JOBQ_PG_JOB_COLUMNS " FROM jobs WHERE id = $1", {std::to_string(id)}},
                             {sql_attempts, {std::to_string(id)}},
                             {"COMMIT"}}));
}

asio::awaitable<std::optional<millis>> PgJobStore::oldest_runnable(millis now) {
    return earliest_of(oldest_runnable_by_queue(now, std::nullopt));
}

asio::awaitable<std::vector<core::WorkerLeases>> PgJobStore::leases_by_worker() {
    return worker_leases(read({{sql_leases_by_worker}}));
}

asio::awaitable<std::size_t> PgJobStore::delete_expired(std::optional<millis> finished_before,
                                                        std::optional<millis> failed_before, std::size_t limit) {
    return in_transaction<std::size_t>([finished_before, failed_before, limit](Transaction& tx) {
        return delete_expired_in(tx, finished_before, failed_before, limit);
    });
}

asio::awaitable<bool> PgJobStore::writable() {
    return in_transaction<bool>(probe_write);
}

}  // namespace jobq::storage::pg
