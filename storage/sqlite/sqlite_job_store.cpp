#include "storage/sqlite/sqlite_job_store.hpp"

#include "storage/sqlite/job_rows.hpp"
#include "storage/sqlite/schema.hpp"
#include "storage/sqlite/settle_rows.hpp"

#include <algorithm>
#include <future>
#include <limits>

namespace jobq::storage {

namespace asio = boost::asio;
using core::Job;
using core::millis;

namespace {

// The first due jobs of one queue in its claim order: the first rows of jobs_claim_order
// from the queue's, however many priority levels or waiting jobs there are. They are read
// first and then leased one by one by rowid: a single `UPDATE ... WHERE id IN (SELECT ...)
// RETURNING` did the same with three temporary tables (the subquery's ids, the rows to
// change, the rows returned), a cost every claim paid.
// `due` alone says runnable (not run_at against the claim's clock): a wall clock that
// stepped back must not leave a due job unclaimed and outside every wake-up.
// INDEXED BY: without statistics (nothing runs ANALYZE) the planner may take jobs_state
// (state = 'queued') instead, and sort every queued job for the order.
constexpr std::string_view sql_due =
    "SELECT " JOBQ_JOB_COLUMNS " FROM jobs INDEXED BY jobs_claim_order "
    "WHERE state = 'queued' AND due = 1 AND external = 0 AND queue = ?2 ORDER BY priority DESC, run_at, id LIMIT ?1";
// The same, narrowed to some types (a JSON array): the index still gives the order, but
// rows of other types are read and passed over.
constexpr std::string_view sql_due_narrowed =
    "SELECT " JOBQ_JOB_COLUMNS " FROM jobs INDEXED BY jobs_claim_order WHERE state = 'queued' AND due = 1 "
    "AND external = 0 AND queue = ?2 AND type IN (SELECT value FROM json_each(?3)) "
    "ORDER BY priority DESC, run_at, id LIMIT ?1";
constexpr std::string_view sql_lease =
    "UPDATE jobs SET state = 'processing', attempts = attempts + 1, lease_expires_at = ?2, started_at = ?3 "
    "WHERE id = ?1 AND state = 'queued'";

// The lease statements name jobs_leases, as the claim names its index (see job_rows.cpp).
constexpr std::string_view sql_next_lease =
    "SELECT MIN(lease_expires_at) FROM jobs INDEXED BY jobs_leases WHERE state = 'processing'";

// Lost leases (expired, or left by a dead process): the attempt counts. A job that has
// used every attempt is dead-lettered, the others run again now. An external lease is lost
// only when it expires (?4, now): its worker is another process, which a restart of this
// one does not stop.
constexpr std::string_view sql_dead_letter_lost =
    "UPDATE jobs INDEXED BY jobs_leases SET state = 'failed', finished_at = ?1, lease_expires_at = NULL, "
    "lease_token = NULL, worker = NULL, last_error = ?2 WHERE state = 'processing' AND lease_expires_at <= ?3 "
    "AND (external = 0 OR lease_expires_at <= ?4) AND attempts - attempt_base > max_retries RETURNING queue, type";
constexpr std::string_view sql_requeue_lost =
    "UPDATE jobs INDEXED BY jobs_leases SET state = 'queued', run_at = ?1, due = 1, lease_expires_at = NULL, "
    "lease_token = NULL, worker = NULL, last_error = ?2 WHERE state = 'processing' AND lease_expires_at <= ?3 "
    "AND (external = 0 OR lease_expires_at <= ?4) RETURNING queue, type";
constexpr std::string_view sql_record_lost =
    "INSERT INTO job_attempts (job_id, attempt, finished_at, outcome, error, started_at) "
    "SELECT id, attempts, ?1, 'lost', ?2, started_at FROM jobs INDEXED BY jobs_leases "
    "WHERE state = 'processing' AND lease_expires_at <= ?3 AND (external = 0 OR lease_expires_at <= ?4) "
    "ON CONFLICT DO NOTHING";

std::vector<Job> read_due(Database& db, const core::ClaimRequest& request, const std::string& queue, std::size_t n) {
    const bool narrowed = !request.types.empty();
    auto s = db.cached(narrowed ? sql_due_narrowed : sql_due);
    s->bind(1, static_cast<std::int64_t>(n)).bind(2, queue);
    if (narrowed) s->bind(3, json_name_list(request.types));
    std::vector<Job> jobs;
    while (s->step()) jobs.push_back(read_job(*s));
    return jobs;
}

// Leases the jobs a claim read, inside its transaction (no other write comes between).
void lease_claimed(Database& db, core::JobChanges& changes, const core::ClaimRequest& request, std::vector<Job>& jobs) {
    for (auto& job : jobs) {
        if (db.cached(sql_lease)->bind(1, job.id).bind(2, request.lease_until).bind(3, request.now).run() != 1)
            throw core::StorageError("claim: job " + std::to_string(job.id) + " is no longer queued");
        job.state = core::JobState::processing;
        job.attempts += 1;
        job.lease_expires_at = request.lease_until;
        job.started_at = request.now;
        changes.moved(job.queue, job.type, core::JobState::queued, core::JobState::processing, core::JobEvent::started);
    }
}

// Runs a statement that moves processing jobs to `to` and answers each one's queue and
// type; returns how many it moved.
std::size_t move_lost(Database& db, core::JobChanges& changes, std::string_view sql, millis now,
                      const std::string& reason, millis expired_before, core::JobState to, core::JobEvent event) {
    auto s = db.cached(sql);
    s->bind(1, now).bind(2, reason).bind(3, expired_before).bind(4, now);
    std::size_t moved = 0;
    for (; s->step(); ++moved) changes.moved(s->column_text(0), s->column_text(1), core::JobState::processing, to, event);
    return moved;
}

core::RecoveryReport settle_lost_leases(Database& db, core::JobChanges& changes, millis now, millis expired_before,
                                        std::string_view why) {
    const std::string reason(why);
    db.cached(sql_record_lost)->bind(1, now).bind(2, reason).bind(3, expired_before).bind(4, now).run();
    core::RecoveryReport report;
    report.dead_lettered = move_lost(db, changes, sql_dead_letter_lost, now, reason, expired_before,
                                     core::JobState::failed, core::JobEvent::failed);
    report.requeued = move_lost(db, changes, sql_requeue_lost, now, reason, expired_before, core::JobState::queued,
                                core::JobEvent::retried);
    return report;
}

// A write that would grow the file past the limit fails with SQLITE_FULL, like a full disk:
// the transaction is rolled back and nothing in it is acknowledged. The limit is in pages;
// deleted jobs free pages that new ones reuse.
void limit_size(Database& db, std::int64_t max_bytes) {
    std::int64_t page_size = 4096;
    {
        auto s = db.cached("PRAGMA page_size");
        if (s->step()) page_size = s->column_int64(0);
    }
    const std::int64_t pages = std::max<std::int64_t>(1, max_bytes / page_size);
    db.exec("PRAGMA max_page_count=" + std::to_string(pages));  // PRAGMA takes no parameters
}

}  // namespace

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
        migrate(*db_, core::system_now_ms());
        if (options.max_bytes > 0) limit_size(*db_, options.max_bytes);
        kept_ = std::make_unique<KeptCounts>(*db_);
        rules_ = std::make_unique<core::QueueRules>(load_queue_settings(*db_));
    });
    auto opened = open.get_future();
    asio::post(executor_.executor(), [&open] { open(); });
    try {
        opened.get();
        group_ = std::make_unique<GroupCommit>(*db_, executor_.executor(), options.metrics, kept_.get());
        // After the migration: a reader needs the database to exist, in WAL mode.
        readers_ = std::make_unique<ReadPool>(options.path, options.readers);
    } catch (...) {
        close();
        throw;
    }
}

SqliteJobStore::~SqliteJobStore() { close(); }

void SqliteJobStore::close() noexcept {
    // The readers first: the writer, closing last, folds the WAL into the database file.
    readers_.reset();
    // Statements and the connection are closed on the thread that used them. Not through
    // blocking(), which hands fn the connection: after a failed open there is none.
    std::packaged_task<void()> task([this] {
        group_.reset();
        rules_.reset();
        kept_.reset();
        db_.reset();
    });
    auto closed = task.get_future();
    asio::post(executor_.executor(), [&task] { task(); });
    closed.wait();
}

asio::awaitable<core::EnqueueResult> SqliteJobStore::enqueue(core::JobSpec spec) {
    return in_transaction<core::EnqueueResult>([spec = std::move(spec)](Database& db, core::JobChanges& changes) mutable {
        return insert_job(db, changes, spec, core::system_now_ms());
    });
}

asio::awaitable<std::optional<Job>> SqliteJobStore::get(core::job_id id) {
    return read<std::optional<Job>>([id](Database& db) { return find_job(db, id); });
}

asio::awaitable<std::vector<Job>> SqliteJobStore::claim(core::ClaimRequest request) {
    // Redoable: a claim lost in a power failure leaves the jobs queued.
    return in_transaction<std::vector<Job>>(
        [this, request = std::move(request)](Database& db, core::JobChanges& changes) {
            mark_due(db, request.now);
            const auto loads = core::queue_loads(kept_->counts(), changes, request.queues);
            auto jobs = core::take_by_rules(*rules_, core::QueueRules::Claimer::built_in, !request.queues.empty(),
                                       request.max, loads, request.now,
                                            [&](const std::string& queue, std::size_t n) {
                                                auto read = read_due(db, request, queue, n);
                                                lease_claimed(db, changes, request, read);
                                                return read;
                                            });
            return jobs;
        },
        Durability::redoable);
}

asio::awaitable<core::Result<void>> SqliteJobStore::settle(core::Settlement st) {
    // Redoable: an outcome lost in a power failure leaves the job processing, and recovery
    // runs it again.
    return in_transaction<core::Result<void>>(
        [st = std::move(st)](Database& db, core::JobChanges& changes) -> core::Result<void> {
            if (settle_row(db, changes, st)) return {};
            return core::make_error(core::errc::lease_lost, "job " + std::to_string(st.id) + " is no longer at attempt " +
                                                                std::to_string(st.attempt));
        },
        Durability::redoable);
}

asio::awaitable<std::vector<bool>> SqliteJobStore::settle_all(std::vector<core::Settlement> settlements) {
    return in_transaction<std::vector<bool>>(  // redoable, as settle()
        [settlements = std::move(settlements)](Database& db, core::JobChanges& changes) {
            std::vector<bool> recorded;
            recorded.reserve(settlements.size());
            for (const auto& st : settlements) recorded.push_back(settle_row(db, changes, st));
            return recorded;
        },
        Durability::redoable);
}

// The engine's wake-ups are one seek each and stay on the writer's thread: on a read-only
// connection they could wait behind an operator's long listing, and delay every claim.
asio::awaitable<std::optional<millis>> SqliteJobStore::next_run_at() {
    // Due jobs are claimed as workers free up; the next wake-up is the first waiting one.
    return on_db_thread<std::optional<millis>>([](Database& db) { return earliest_waiting(db); });
}

asio::awaitable<std::optional<millis>> SqliteJobStore::next_lease_expiry() {
    return on_db_thread<std::optional<millis>>([](Database& db) { return single_optional(db, sql_next_lease); });
}

asio::awaitable<core::RecoveryReport> SqliteJobStore::reap_expired(millis now) {
    return in_transaction<core::RecoveryReport>(
        [now](Database& db, core::JobChanges& changes) { return settle_lost_leases(db, changes, now, now, "lease expired"); });
}

asio::awaitable<core::RecoveryReport> SqliteJobStore::recover(millis now) {
    // Every lease is lost, whatever its expiry: the process that held it is gone.
    return in_transaction<core::RecoveryReport>([now](Database& db, core::JobChanges& changes) {
        return settle_lost_leases(db, changes, now, std::numeric_limits<millis>::max(),
                                  "interrupted: the server stopped while it ran");
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
