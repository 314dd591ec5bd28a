#include "storage/postgres/pg_job_store.hpp"

#include "storage/postgres/arrays.hpp"
#include "storage/postgres/job_rows.hpp"
#include "storage/postgres/schema.hpp"
#include "storage/postgres/take_by_rules.hpp"

#include <algorithm>

namespace jobq::storage::pg {

namespace asio = boost::asio;
using core::Job;
using core::millis;
using namespace std::chrono_literals;

namespace {

// A claim from one queue: its first runnable jobs in claim order, skipping
// those another node's claim holds (SKIP LOCKED: no claim waits for another).
// $6, when not null, narrows it to some types.
constexpr const char* sql_claim =
    "WITH picked AS (SELECT id FROM jobs WHERE state = 'queued' AND due AND NOT external AND queue = $1 AND "
    "($6::text[] IS NULL OR type = ANY($6::text[])) ORDER BY priority DESC, run_at, id LIMIT $3 FOR UPDATE SKIP "
    "LOCKED) UPDATE jobs AS j SET state = 'processing', attempts = j.attempts + 1, lease_expires_at = $4, started_at = "
    "$2, node = $5 FROM picked WHERE j.id = picked.id RETURNING " JOBQ_PG_JOB_COLUMNS_OF_J;

// A queue with a concurrency limit: claims and leases of it, on every node, take turns
// (the lock is held until their transaction ends), and each counts the jobs running.
constexpr const char* sql_lock_queue =
    "SELECT pg_advisory_xact_lock(hashtextextended(current_schema() || ':jobq:queue:' || $1, 0))";
constexpr const char* sql_running_in_queue = "SELECT count(*) FROM jobs WHERE state = 'processing' AND queue = $1";
// A rate-limited queue's token bucket, one for every node, read and written under the
// queue's lock.
constexpr const char* sql_read_bucket = "SELECT tokens, at FROM queue_tokens WHERE queue = $1";
constexpr const char* sql_write_bucket =
    "INSERT INTO queue_tokens (queue, tokens, at) VALUES ($1, $2, $3) ON CONFLICT (queue) DO UPDATE SET "
    "tokens = excluded.tokens, at = excluded.at";

// Dead nodes: silent, and their name free. The transaction's lock on the name keeps a node
// restarting under it waiting until their jobs are given up.
constexpr const char* sql_forget_dead_nodes =
    "DELETE FROM nodes WHERE name = ANY($1::text[]) AND heartbeat_at < (extract(epoch FROM clock_timestamp()) * "
    "1000)::bigint - $2::bigint AND pg_try_advisory_xact_lock(hashtextextended(current_schema() || ':jobq:node:' || "
    "name, 0)) RETURNING name";

// Settlements, a batch in one statement. Fencing: each applies only to its job
// still processing at its attempt, and, when it names them, of its queue and
// type (else the counts would drift). The failed and retried attempts are
// recorded in the history.
constexpr const char* sql_settle =
    "WITH s AS (SELECT * FROM unnest($1::bigint[], $2::integer[], $3::text[], $4::bigint[], $5::bigint[], $6::text[], "
    "$7::text[], $8::text[], $9::text[]) WITH ORDINALITY AS s(id, attempt, kind, at, run_at, error, queue, type, "
    "result, ord)), settled AS (UPDATE jobs AS j SET state = CASE s.kind WHEN 'done' THEN 'done' WHEN 'failed' THEN "
    "'failed' ELSE 'queued' END, finished_at = CASE WHEN s.kind IN ('done', 'failed') THEN s.at ELSE j.finished_at "
    "END, run_at = CASE s.kind WHEN 'retry' THEN s.run_at WHEN 'released' THEN greatest(s.run_at, s.at) ELSE j.run_at "
    "END, attempts = CASE s.kind WHEN 'released' THEN j.attempts - 1 ELSE j.attempts END, due = CASE s.kind WHEN "
    "'retry' THEN s.run_at <= s.at WHEN 'released' THEN s.run_at <= s.at ELSE j.due END, last_error = CASE WHEN "
    "s.kind IN ('retry', 'failed') THEN s.error ELSE j.last_error END, result = CASE WHEN s.kind = 'done' AND s.result "
    "IS NOT NULL THEN s.result ELSE j.result END, lease_expires_at = NULL, lease_token = NULL, worker = NULL, node = "
    "NULL FROM s WHERE j.id = s.id AND j.state = 'processing' AND j.attempts = s.attempt AND (s.queue IS NULL OR "
    "(j.queue = s.queue AND j.type = s.type)) RETURNING s.ord, j.queue, j.type, j.id, s.attempt, s.kind, s.at, "
    "s.error, j.started_at), recorded AS (INSERT INTO job_attempts (job_id, attempt, finished_at, outcome, error, "
    "started_at) SELECT id, attempt, at, CASE kind WHEN 'retry' THEN 'retryable' ELSE 'failed' END, error, started_at "
    "FROM settled WHERE kind IN ('retry', 'failed') ON CONFLICT DO NOTHING) SELECT ord, queue, type, kind FROM settled";

// The next job to come due: the dispatcher's next wake-up.
constexpr const char* sql_next_run_at = "SELECT min(run_at) FROM jobs WHERE state = 'queued' AND NOT due";
constexpr const char* sql_next_lease = "SELECT min(lease_expires_at) FROM jobs WHERE state = 'processing'";

// Lost leases: expired ($3, now), or, at this node's start, the built-in ones
// it held before ($5, its name). An external lease is lost only when it expires
// ($4, now): its worker is another process. The attempt counts: a job out of
// attempts is dead-lettered, the others run again now.
#define JOBQ_LOST_LEASE                                                       \
    " state = 'processing' AND (lease_expires_at <= $3 OR (NOT external AND " \
    "node = ANY($5::text[])))"                                                \
    " AND (NOT external OR lease_expires_at <= $4)"
constexpr const char* sql_record_lost =
    "INSERT INTO job_attempts (job_id, attempt, finished_at, outcome, error, started_at) SELECT id, attempts, $1, "
    "'lost', $2, started_at FROM jobs WHERE" JOBQ_LOST_LEASE " ON CONFLICT DO NOTHING";
constexpr const char* sql_dead_letter_lost =
    "UPDATE jobs SET state = 'failed', finished_at = $1, lease_expires_at = NULL, lease_token = NULL, worker = NULL, "
    "node = NULL, last_error = $2 WHERE" JOBQ_LOST_LEASE
    " AND attempts - attempt_base > max_retries RETURNING queue, type";
constexpr const char* sql_requeue_lost =
    "UPDATE jobs SET state = 'queued', run_at = $1, due = true, lease_expires_at = NULL, lease_token = NULL, worker = "
    "NULL, node = "
    "NULL, last_error = $2 WHERE" JOBQ_LOST_LEASE " RETURNING queue, type";
#undef JOBQ_LOST_LEASE

constexpr const char* sql_get = "SELECT " JOBQ_PG_JOB_COLUMNS " FROM jobs WHERE id = $1";

std::string_view kind_name(core::Settlement::Kind kind) {
    using Kind = core::Settlement::Kind;
    switch (kind) {
        case Kind::done:
            return "done";
        case Kind::retry:
            return "retry";
        case Kind::failed:
            return "failed";
        case Kind::released:
            return "released";
    }
    return "";
}

struct SettledAs {
    core::JobState state;
    std::optional<core::JobEvent> event;  // a released attempt is not counted
};

SettledAs settled_as(std::string_view kind) {
    using core::JobEvent;
    using core::JobState;
    if (kind == "done") return {JobState::done, JobEvent::done};
    if (kind == "retry") return {JobState::queued, JobEvent::retried};
    if (kind == "failed") return {JobState::failed, JobEvent::failed};
    return {JobState::queued, std::nullopt};
}

Statement settle_statement(const std::vector<core::Settlement>& settlements) {
    std::vector<std::int64_t> ids, attempts, ats, run_ats;
    std::vector<std::string> kinds, errors;
    std::vector<std::optional<std::string>> queues, types, results;
    for (const auto& st : settlements) {
        const bool named = !st.queue.empty() && !st.type.empty();
        ids.push_back(st.id);
        attempts.push_back(st.attempt);
        kinds.emplace_back(kind_name(st.kind));
        ats.push_back(st.at);
        run_ats.push_back(st.run_at);
        errors.push_back(st.error);
        queues.push_back(named ? std::optional(st.queue) : std::nullopt);
        types.push_back(named ? std::optional(st.type) : std::nullopt);
        results.push_back(st.result);
    }
    return {sql_settle,
            {int_array(ids), int_array(attempts), text_array(kinds), int_array(ats), int_array(run_ats),
             text_array(errors), text_array(queues), text_array(types), text_array(results)}};
}

// Every statement of a store's round trip has the server's timeout; ours adds a
// margin for the network, after which the connection is given up.
constexpr auto network_margin = 5s;

}  // namespace

bool claim_order(const Job& a, const Job& b) {
    return std::tie(b.priority, a.run_at, a.id) < std::tie(a.priority, b.run_at, b.id);
}

namespace {

template <class T>
asio::awaitable<T> first_of(asio::awaitable<std::vector<T>> many) {
    auto all = co_await std::move(many);
    if (all.empty()) throw core::StorageError("the store answered nothing");
    co_return std::move(all.front());
}

asio::awaitable<core::Result<void>> fenced(asio::awaitable<std::vector<bool>> recorded, core::job_id id,
                                           std::int32_t attempt) {
    const auto all = co_await std::move(recorded);
    if (!all.empty() && all.front()) co_return core::Result<void>{};
    co_return core::make_error(core::errc::lease_lost,
                               "job " + std::to_string(id) + " is no longer at attempt " + std::to_string(attempt));
}

}  // namespace

PgJobStore::PgJobStore(asio::any_io_executor executor, PgStoreOptions options) : options_(std::move(options)) {
    PoolOptions pool;
    pool.connect.conninfo = options_.conninfo;
    pool.connect.statement_timeout = options_.statement_timeout;
    if (!options_.synchronous_commit) pool.connect.setup.push_back("SET synchronous_commit = off");
    pool.size = options_.connections;
    pool_ = std::make_unique<ConnectionPool>(std::move(executor), std::move(pool));
}

PgJobStore::~PgJobStore() = default;

asio::awaitable<std::unique_ptr<PgJobStore>> PgJobStore::open(asio::any_io_executor executor, PgStoreOptions options) {
    auto store = std::unique_ptr<PgJobStore>(new PgJobStore(std::move(executor), std::move(options)));
    co_await store->start();
    co_return store;
}

asio::awaitable<void> PgJobStore::start() {
    {
        auto connection = co_await pool_->acquire();
        co_await migrate(*connection);
    }
    auto statements = batch(read_counts_statement(), queue_settings_statement());
    auto loaded = co_await read(std::move(statements));
    counts_.apply(read_counts(loaded[0]), counts_.ticket());
    rules_ = std::make_unique<core::QueueRules>(read_queue_settings(loaded[1]));
    group_ = std::make_unique<GroupCommit>(*pool_, options_.node, counts_, history_, options_.metrics,
                                           round_trip_timeout());
}

std::chrono::milliseconds PgJobStore::round_trip_timeout() const {
    return options_.statement_timeout + network_margin;
}

asio::awaitable<std::vector<Result>> PgJobStore::read(std::vector<Statement> statements) {
    return pool_->run(std::move(statements), round_trip_timeout());
}

asio::awaitable<core::EnqueueResult> PgJobStore::enqueue(core::JobSpec spec) {
    std::vector<core::JobSpec> one;
    one.push_back(std::move(spec));
    return first_of(group_->enqueue(std::move(one)));
}

asio::awaitable<std::vector<core::EnqueueResult>> PgJobStore::enqueue_batch(std::vector<core::JobSpec> specs) {
    return group_->enqueue(std::move(specs));
}

asio::awaitable<std::optional<Job>> PgJobStore::get(core::job_id id) {
    auto statements = batch(Statement(sql_get, params(std::to_string(id))));
    auto results = co_await read(std::move(statements));
    if (results[0].rows() == 0) co_return std::nullopt;
    co_return read_job(results[0], 0);
}

asio::awaitable<std::vector<Job>> PgJobStore::claim(core::ClaimRequest request) {
    // Redoable: a claim lost in a power failure leaves the jobs queued.
    return in_transaction<std::vector<Job>>(
        [this, request = std::move(request)](Transaction& tx) { return claim_in(tx, request); }, Durability::redoable);
}

asio::awaitable<std::vector<Job>> PgJobStore::claim_in(Transaction& tx, core::ClaimRequest request) {
    auto mark = batch(mark_due(request.now, false));
    co_await tx.run(std::move(mark));
    const std::optional<std::string> types =
        request.types.empty() ? std::nullopt : std::optional(text_array(request.types));
    auto loads = core::queue_loads(counts_.counts(), tx.changes(), request.queues);
    const auto rate_limited = co_await lock_limited(tx, loads);
    auto claimed = co_await take_by_rules<Job>(
        *rules_, core::QueueRules::Claimer::built_in, !request.queues.empty(), request.max, std::move(loads),
        request.now, [this, &tx, &request, &types](const std::string& queue, std::size_t n) {
            return claim_from(tx, queue, n, request.now, request.lease_until, types);
        });
    co_await store_buckets(tx, rate_limited);
    co_return claimed;
}

asio::awaitable<std::vector<StoredBucket>> PgJobStore::lock_limited(Transaction& tx,
                                                                    const std::vector<core::QueueLoad>& loads) {
    std::vector<Statement> statements;
    std::vector<StoredBucket> rate_limited;
    for (const auto& load : loads) {  // by name: no two nodes wait for each other's locks
        const auto settings = rules_->of(load.queue);
        if (!settings.concurrency && !settings.rate_limit) continue;
        statements.push_back(Statement(sql_lock_queue, params(load.queue)));
        if (!settings.rate_limit) continue;
        statements.push_back(Statement(sql_read_bucket, params(load.queue)));
        rate_limited.push_back({load.queue, 0});
    }
    if (statements.empty()) co_return rate_limited;
    auto results = co_await tx.run(std::move(statements));
    // The buckets' answers follow their locks, in the order of rate_limited.
    std::size_t next = 0;
    for (const auto& result : results) {
        if (result.columns() != 2) continue;  // a lock
        auto& stored = rate_limited.at(next++);
        // None stored yet: full, as a bucket in memory starts.
        if (result.rows() == 0) continue;
        stored.at = result.int64(0, 1);
        rules_->set_bucket(stored.queue, {result.float64(0, 0), stored.at});
    }
    co_return rate_limited;
}

asio::awaitable<void> PgJobStore::store_buckets(Transaction& tx, std::vector<StoredBucket> buckets) {
    std::vector<Statement> statements;
    for (const auto& stored : buckets) {
        const auto bucket = rules_->bucket_of(stored.queue);
        if (!bucket) continue;
        // Never back in time: a node whose clock is behind another's refills nothing until
        // it catches up, rather than granting the difference again.
        const auto at = std::max(bucket->at, stored.at);
        statements.push_back(
            Statement(sql_write_bucket, params(stored.queue, exact_text(bucket->tokens), std::to_string(at))));
    }
    if (!statements.empty()) co_await tx.run(std::move(statements));
}

asio::awaitable<std::size_t> PgJobStore::room_in(Transaction& tx, std::string queue, std::size_t n) {
    const auto limit = rules_->of(queue).concurrency;
    if (!limit) co_return n;
    auto statements = batch(Statement(sql_lock_queue, params(queue)), Statement(sql_running_in_queue, params(queue)));
    auto results = co_await tx.run(std::move(statements));
    const auto room = std::max<std::int64_t>(0, *limit - results[1].int64(0, 0));
    co_return std::min(n, static_cast<std::size_t>(room));
}

asio::awaitable<std::vector<Job>> PgJobStore::claim_from(Transaction& tx, std::string queue, std::size_t n, millis now,
                                                         millis lease_until, std::optional<std::string> types) {
    n = co_await room_in(tx, queue, n);
    if (n == 0) co_return std::vector<Job>{};
    auto statements = batch(Statement(sql_claim, params(std::move(queue), std::to_string(now), std::to_string(n),
                                                        std::to_string(lease_until), options_.node, std::move(types))));
    auto results = co_await tx.run(std::move(statements));
    auto got = read_jobs(results[0]);
    // RETURNING keeps no order: the claim order is the store's promise.
    std::sort(got.begin(), got.end(), claim_order);
    for (const auto& job : got)
        tx.changes().moved(job.queue, job.type, core::JobState::queued, core::JobState::processing,
                           core::JobEvent::started);
    co_return got;
}

asio::awaitable<core::Result<void>> PgJobStore::settle(core::Settlement settlement) {
    const auto id = settlement.id;
    const auto attempt = settlement.attempt;
    std::vector<core::Settlement> one;
    one.push_back(std::move(settlement));
    return fenced(settle_all(std::move(one)), id, attempt);
}

asio::awaitable<std::vector<bool>> PgJobStore::settle_all(std::vector<core::Settlement> settlements) {
    // Redoable: an outcome lost in a power failure leaves the job processing, and
    // it runs again.
    return in_transaction<std::vector<bool>>(
        [this, settlements = std::move(settlements)](Transaction& tx) { return settle_in(tx, settlements); },
        Durability::redoable);
}

asio::awaitable<std::vector<bool>> PgJobStore::settle_in(Transaction& tx, std::vector<core::Settlement> settlements) {
    std::vector<bool> recorded(settlements.size(), false);
    if (settlements.empty()) co_return recorded;
    auto statements = batch(settle_statement(settlements));
    auto results = co_await tx.run(std::move(statements));
    const Result& rows = results[0];
    for (int row = 0; row < rows.rows(); ++row) {
        const auto ord = static_cast<std::size_t>(rows.int64(row, 0));
        if (ord < 1 || ord > settlements.size()) throw core::StorageError("settle: an answer for no settlement");
        recorded[ord - 1] = true;
        const auto as = settled_as(rows.text(row, 3));
        tx.changes().moved(rows.text(row, 1), rows.text(row, 2), core::JobState::processing, as.state, as.event);
    }
    co_return recorded;
}

asio::awaitable<std::optional<millis>> PgJobStore::next_run_at() {
    auto statements = batch(Statement(sql_next_run_at));
    auto results = co_await read(std::move(statements));
    co_return results[0].optional_int64(0, 0);
}

asio::awaitable<std::optional<millis>> PgJobStore::next_lease_expiry() {
    auto statements = batch(Statement(sql_next_lease));
    auto results = co_await read(std::move(statements));
    co_return results[0].optional_int64(0, 0);
}

asio::awaitable<core::RecoveryReport> PgJobStore::reap_expired(millis now) {
    return in_transaction<core::RecoveryReport>(
        [this, now](Transaction& tx) { return settle_lost(tx, now, {}, "lease expired"); });
}

asio::awaitable<core::RecoveryReport> PgJobStore::recover(millis now) {
    // This node's built-in leases are lost, whatever their expiry: the process
    // that held them is gone. Those of other nodes are theirs (or the reaper's,
    // when they expire).
    return in_transaction<core::RecoveryReport>([this, now](Transaction& tx) {
        return settle_lost(tx, now, {options_.node}, "interrupted: the server stopped while it ran");
    });
}

namespace {

std::size_t note_lost(Transaction& tx, const Result& rows, core::JobState to, core::JobEvent event) {
    for (int row = 0; row < rows.rows(); ++row)
        tx.changes().moved(rows.text(row, 0), rows.text(row, 1), core::JobState::processing, to, event);
    return static_cast<std::size_t>(rows.rows());
}

}  // namespace

asio::awaitable<core::RecoveryReport> PgJobStore::settle_lost(Transaction& tx, millis now,
                                                              std::vector<std::string> nodes, std::string reason) {
    const auto lost = params(std::to_string(now), std::move(reason), std::to_string(now), std::to_string(now),
                             nodes.empty() ? Param() : Param(text_array(nodes)));
    auto statements = batch(Statement(sql_record_lost, lost), Statement(sql_dead_letter_lost, lost),
                            Statement(sql_requeue_lost, lost));
    auto results = co_await tx.run(std::move(statements));
    core::RecoveryReport report;
    report.dead_lettered = note_lost(tx, results[1], core::JobState::failed, core::JobEvent::failed);
    report.requeued = note_lost(tx, results[2], core::JobState::queued, core::JobEvent::retried);
    co_return report;
}

asio::awaitable<DeadNodes> PgJobStore::requeue_leases_of(std::vector<std::string> candidates, std::int64_t silent_ms,
                                                         millis now) {
    return in_transaction<DeadNodes>([this, candidates = std::move(candidates), silent_ms, now](Transaction& tx) {
        return give_up_nodes(tx, candidates, silent_ms, now);
    });
}

asio::awaitable<DeadNodes> PgJobStore::give_up_nodes(Transaction& tx, std::vector<std::string> candidates,
                                                     std::int64_t silent_ms, millis now) {
    auto forget = batch(Statement(sql_forget_dead_nodes, params(text_array(candidates), std::to_string(silent_ms))));
    auto forgotten = co_await tx.run(std::move(forget));
    DeadNodes dead;
    for (int row = 0; row < forgotten[0].rows(); ++row) dead.nodes.emplace_back(forgotten[0].text(row, 0));
    if (dead.nodes.empty()) co_return dead;
    std::string reason = "lost: its node stopped answering";
    auto nodes = dead.nodes;
    dead.jobs = co_await settle_lost(tx, now, std::move(nodes), std::move(reason));
    co_return dead;
}

asio::awaitable<void> PgJobStore::refresh_counts() {
    const auto ticket = counts_.ticket();
    auto statements = batch(read_counts_statement());
    auto results = co_await read(std::move(statements));
    counts_.apply(read_counts(results[0]), ticket);
}

}  // namespace jobq::storage::pg
