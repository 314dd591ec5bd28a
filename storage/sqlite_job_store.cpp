#include "storage/sqlite_job_store.hpp"

#include "storage/schema.hpp"

#include <algorithm>
#include <future>
#include <limits>
#include <tuple>

namespace jobq::storage {

namespace asio = boost::asio;
using core::Job;
using core::millis;

namespace {

// Column order shared by every statement that returns whole jobs (see read_job).
#define JOBQ_JOB_COLUMNS                                                                             \
    "id, type, queue, priority, payload, state, attempts, max_retries, run_at, lease_expires_at, " \
    "idempotency_key, last_error, created_at, started_at, finished_at"

constexpr std::string_view sql_insert =
    "INSERT INTO jobs (type, queue, priority, payload, state, attempts, max_retries, run_at, idempotency_key, "
    "created_at) VALUES (?1, ?2, ?3, ?4, 'queued', 0, ?5, ?6, ?7, ?8) "
    "ON CONFLICT (idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING";  // no RETURNING: it costs an ephemeral table per row
constexpr std::string_view sql_by_key = "SELECT " JOBQ_JOB_COLUMNS " FROM jobs WHERE idempotency_key = ?1";
constexpr std::string_view sql_by_id = "SELECT " JOBQ_JOB_COLUMNS " FROM jobs WHERE id = ?1";

// Claiming walks the priority levels from the highest down. Within one level the index
// (priority DESC, run_at, id) gives the due jobs as a range seek; a single query ordered
// by priority across levels would instead scan every queued row whenever the first ones
// are not due yet (a backlog of delayed jobs made each claim O(n)).
constexpr std::string_view sql_top_level = "SELECT MAX(priority) FROM jobs WHERE state = 'queued'";
constexpr std::string_view sql_next_level =
    "SELECT MAX(priority) FROM jobs WHERE state = 'queued' AND priority < ?1";
constexpr std::string_view sql_claim_level =
    "UPDATE jobs SET state = 'processing', attempts = attempts + 1, lease_expires_at = ?1, started_at = ?2 "
    "WHERE id IN (SELECT id FROM jobs WHERE state = 'queued' AND priority = ?3 AND run_at <= ?2 "
    "             ORDER BY run_at, id LIMIT ?4) "
    "RETURNING " JOBQ_JOB_COLUMNS;

// Fencing: every settlement names the attempt it ends.
constexpr std::string_view sql_done =
    "UPDATE jobs SET state = 'done', finished_at = ?3, lease_expires_at = NULL "
    "WHERE id = ?1 AND state = 'processing' AND attempts = ?2";
constexpr std::string_view sql_retry =
    "UPDATE jobs SET state = 'queued', run_at = ?4, last_error = ?5, lease_expires_at = NULL "
    "WHERE id = ?1 AND state = 'processing' AND attempts = ?2";
constexpr std::string_view sql_failed =
    "UPDATE jobs SET state = 'failed', finished_at = ?3, last_error = ?5, lease_expires_at = NULL "
    "WHERE id = ?1 AND state = 'processing' AND attempts = ?2";
constexpr std::string_view sql_released =
    "UPDATE jobs SET state = 'queued', run_at = ?3, attempts = attempts - 1, lease_expires_at = NULL "
    "WHERE id = ?1 AND state = 'processing' AND attempts = ?2";
constexpr std::string_view sql_record_attempt =
    "INSERT OR REPLACE INTO job_attempts (job_id, attempt, finished_at, outcome, error) VALUES (?1, ?2, ?3, ?4, ?5)";

constexpr std::string_view sql_level_next_run =
    "SELECT MIN(run_at) FROM jobs WHERE state = 'queued' AND priority = ?1";
constexpr std::string_view sql_next_lease = "SELECT MIN(lease_expires_at) FROM jobs WHERE state = 'processing'";

// Lost leases (expired, or left by a dead process): the attempt counts. A job that has
// used every attempt is dead-lettered, the others run again now.
constexpr std::string_view sql_dead_letter_lost =
    "UPDATE jobs SET state = 'failed', finished_at = ?1, lease_expires_at = NULL, last_error = ?2 "
    "WHERE state = 'processing' AND lease_expires_at <= ?3 AND attempts > max_retries";
constexpr std::string_view sql_requeue_lost =
    "UPDATE jobs SET state = 'queued', run_at = ?1, lease_expires_at = NULL, last_error = ?2 "
    "WHERE state = 'processing' AND lease_expires_at <= ?3";
constexpr std::string_view sql_record_lost =
    "INSERT OR REPLACE INTO job_attempts (job_id, attempt, finished_at, outcome, error) "
    "SELECT id, attempts, ?1, 'lost', ?2 FROM jobs WHERE state = 'processing' AND lease_expires_at <= ?3";

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

std::optional<Job> find_one(Database& db, std::string_view sql, auto key) {
    auto s = db.cached(sql);
    s->bind(1, key);
    if (!s->step()) return std::nullopt;
    return read_job(*s);
}

std::optional<millis> single_optional(Database& db, std::string_view sql) {
    auto s = db.cached(sql);
    s->step();
    return s->column_optional_int64(0);
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

std::vector<Job> claim_due(Database& db, std::size_t max, millis now, millis lease_until) {
    std::vector<Job> jobs;
    for (auto level = next_priority_level(db, std::nullopt); level && jobs.size() < max;
         level = next_priority_level(db, level)) {
        const std::size_t first = jobs.size();
        auto s = db.cached(sql_claim_level);
        s->bind(1, lease_until).bind(2, now).bind(3, *level).bind(4, static_cast<std::int64_t>(max - jobs.size()));
        while (s->step()) jobs.push_back(read_job(*s));
        // RETURNING does not promise an order.
        std::sort(jobs.begin() + static_cast<std::ptrdiff_t>(first), jobs.end(),
                  [](const Job& a, const Job& b) { return std::tie(a.run_at, a.id) < std::tie(b.run_at, b.id); });
    }
    return jobs;
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

core::RecoveryReport settle_lost_leases(Database& db, millis now, millis expired_before, std::string_view why) {
    const std::string reason(why);
    db.cached(sql_record_lost)->bind(1, now).bind(2, reason).bind(3, expired_before).run();
    core::RecoveryReport report;
    report.dead_lettered = static_cast<std::size_t>(
        db.cached(sql_dead_letter_lost)->bind(1, now).bind(2, reason).bind(3, expired_before).run());
    report.requeued = static_cast<std::size_t>(
        db.cached(sql_requeue_lost)->bind(1, now).bind(2, reason).bind(3, expired_before).run());
    return report;
}

}  // namespace

template <class R>
asio::awaitable<R> SqliteJobStore::in_transaction(std::function<R(Database&)> fn) {
    return group_->run<R>(std::move(fn));
}

template <class R>
R SqliteJobStore::blocking(std::function<R(Database&)> fn) {
    std::packaged_task<R()> task([&] { return fn(*db_); });
    auto result = task.get_future();
    asio::post(executor_.executor(), [&task] { task(); });
    return result.get();
}

SqliteJobStore::SqliteJobStore(StoreOptions options) {
    std::packaged_task<void()> open([&] {
        db_ = std::make_unique<Database>(options.path, options.sync);
        migrate(*db_);
    });
    auto opened = open.get_future();
    asio::post(executor_.executor(), [&open] { open(); });
    opened.get();
    group_ = std::make_unique<GroupCommit>(*db_, executor_.executor());
}

SqliteJobStore::~SqliteJobStore() {
    // Statements and the connection are closed on the thread that used them.
    blocking<int>([this](Database&) {
        group_.reset();
        db_.reset();
        return 0;
    });
}

asio::awaitable<core::EnqueueResult> SqliteJobStore::enqueue(core::JobSpec spec) {
    return in_transaction<core::EnqueueResult>(
        [spec = std::move(spec)](Database& db) mutable { return insert_job(db, spec, core::system_now_ms()); });
}

asio::awaitable<std::optional<Job>> SqliteJobStore::get(core::job_id id) {
    return on_db_thread<std::optional<Job>>([id](Database& db) { return find_one(db, sql_by_id, id); });
}

asio::awaitable<std::vector<Job>> SqliteJobStore::claim(std::size_t max, millis now, millis lease_until) {
    return in_transaction<std::vector<Job>>([=](Database& db) { return claim_due(db, max, now, lease_until); });
}

asio::awaitable<bool> SqliteJobStore::settle(core::Settlement st) {
    return in_transaction<bool>([st = std::move(st)](Database& db) {
        using Kind = core::Settlement::Kind;
        std::string_view sql = sql_done;
        switch (st.kind) {
            case Kind::done: sql = sql_done; break;
            case Kind::retry: sql = sql_retry; break;
            case Kind::failed: sql = sql_failed; break;
            case Kind::released: sql = sql_released; break;
        }
        auto s = db.cached(sql);
        s->bind(1, st.id).bind(2, std::int64_t{st.attempt}).bind(3, st.at);
        if (st.kind == Kind::retry || st.kind == Kind::failed) s->bind(4, st.run_at).bind(5, st.error);
        if (s->run() == 0) return false;
        if (st.kind == Kind::retry || st.kind == Kind::failed)
            db.cached(sql_record_attempt)
                ->bind(1, st.id)
                .bind(2, std::int64_t{st.attempt})
                .bind(3, st.at)
                .bind(4, st.kind == Kind::retry ? std::string_view("retryable") : std::string_view("failed"))
                .bind(5, st.error)
                .run();
        return true;
    });
}

asio::awaitable<std::optional<millis>> SqliteJobStore::next_run_at() {
    return on_db_thread<std::optional<millis>>([](Database& db) { return earliest_run_at(db); });
}

asio::awaitable<std::optional<millis>> SqliteJobStore::next_lease_expiry() {
    return on_db_thread<std::optional<millis>>(
        [](Database& db) { return single_optional(db, sql_next_lease); });
}

asio::awaitable<core::RecoveryReport> SqliteJobStore::reap_expired(millis now) {
    return in_transaction<core::RecoveryReport>(
        [now](Database& db) { return settle_lost_leases(db, now, now, "lease expired"); });
}

asio::awaitable<core::RecoveryReport> SqliteJobStore::recover(millis now) {
    // Every lease is lost, whatever its expiry: the process that held it is gone.
    return in_transaction<core::RecoveryReport>([now](Database& db) {
        return settle_lost_leases(db, now, std::numeric_limits<millis>::max(), "interrupted: the server stopped while it ran");
    });
}

void SqliteJobStore::checkpoint() {
    blocking<int>([](Database& db) {
        db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
        return 0;
    });
}

GroupCommitStats SqliteJobStore::commit_stats() {
    return blocking<GroupCommitStats>([this](Database&) { return group_->stats(); });
}

}  // namespace jobq::storage
