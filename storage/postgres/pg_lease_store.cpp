// External leases (core::LeaseStore) of PgJobStore: jobs of external types handed out in
// their own claim order (jobs_lease_order), each lease fenced by its token and attempt.

#include "core/lease_token.hpp"
#include "storage/postgres/arrays.hpp"
#include "storage/postgres/job_rows.hpp"
#include "storage/postgres/pg_job_store.hpp"
#include "storage/postgres/take_by_rules.hpp"

#include <algorithm>

namespace jobq::storage::pg {

namespace asio = boost::asio;
using core::Job;
using core::millis;

namespace {

// At most this much payload per lease request: the answer is built whole in memory.
constexpr std::int64_t max_leased_payload_bytes = 8 << 20;

// As the built-in claim, over one queue's external jobs ($1), narrowed by types ($6), while
// the request's payload ($8 already taken) stays under its limit ($9): a job is taken if
// the payload before it is under the limit. Each job gets the next of the tokens ($7),
// made by the caller from the system's CSPRNG.
constexpr const char* sql_lease =
    "WITH locked AS (SELECT id, priority, run_at, octet_length(payload) AS bytes FROM jobs"
    " WHERE state = 'queued' AND due AND external AND queue = $1"
    " AND ($6::text[] IS NULL OR type = ANY($6::text[])) ORDER BY priority DESC, run_at, id LIMIT $3"
    " FOR UPDATE SKIP LOCKED),"
    " picked AS (SELECT id, row_number() OVER w AS n, coalesce(sum(bytes) OVER w, 0) - bytes AS before FROM locked"
    " WINDOW w AS (ORDER BY priority DESC, run_at, id))"
    " UPDATE jobs AS j SET state = 'processing', attempts = j.attempts + 1, lease_expires_at = $4, started_at = $2,"
    " worker = $5, lease_token = ($7::text[])[picked.n] FROM picked"
    " WHERE j.id = picked.id AND $8::bigint + picked.before < $9::bigint"
    " RETURNING " JOBQ_PG_JOB_COLUMNS_OF_J ", j.lease_token";

constexpr const char* sql_leased = "SELECT " JOBQ_PG_JOB_COLUMNS ", lease_token FROM jobs WHERE id = $1 FOR UPDATE";
constexpr const char* sql_get_job = "SELECT " JOBQ_PG_JOB_COLUMNS " FROM jobs WHERE id = $1";
constexpr const char* sql_extend =
    "UPDATE jobs SET lease_expires_at = $3 WHERE id = $1 AND state = 'processing' AND attempts = $2";

// The job `token` leases now (locked for the transaction), or why not.
asio::awaitable<core::Result<Job>> leased_by(Transaction& tx, core::job_id id, std::string token) {
    auto statements = batch(Statement(sql_leased, params(std::to_string(id))));
    auto results = co_await tx.run(std::move(statements));
    const Result& row = results[0];
    if (row.rows() == 0) co_return core::make_error(core::errc::not_found, "no job " + std::to_string(id));
    auto job = read_job(row, 0);
    const auto current = row.optional_text(0, job_column_count);
    // Compared in constant time: how long a refusal takes says nothing of the token held.
    const bool held = current && core::same_token(*current, token);
    if (!held || job.state != core::JobState::processing || !job.external)
        co_return core::make_error(core::errc::lease_lost, "job " + std::to_string(id) +
                                                               " is not leased with that token (expired, settled or "
                                                               "never its)");
    co_return job;
}

asio::awaitable<core::Result<millis>> extend_in(Transaction& tx, core::job_id id, std::string token,
                                                millis lease_until) {
    const auto job = co_await leased_by(tx, id, std::move(token));
    if (!job) co_return job.error();
    auto statements = batch(
        Statement(sql_extend, params(std::to_string(id), std::to_string(job->attempts), std::to_string(lease_until))));
    co_await tx.run(std::move(statements));
    co_return lease_until;
}

}  // namespace

asio::awaitable<std::vector<core::LeasedJob>> PgJobStore::lease(core::LeaseRequest request) {
    // Redoable, as a claim: a lease lost in a power failure leaves its jobs queued.
    return in_transaction<std::vector<core::LeasedJob>>(
        [this, request = std::move(request)](Transaction& tx) { return lease_in(tx, request); }, Durability::redoable);
}

asio::awaitable<std::vector<core::LeasedJob>> PgJobStore::lease_in(Transaction& tx, core::LeaseRequest request) {
    const std::optional<std::string> types =
        request.types.empty() ? std::nullopt : std::optional(text_array(request.types));
    std::int64_t payload_bytes = 0;
    auto mark = batch(mark_due(request.now, true));
    co_await tx.run(std::move(mark));
    auto loads = core::queue_loads(counts_.counts(), tx.changes(), request.queues);
    const auto rate_limited = co_await lock_limited(tx, loads);
    auto leased = co_await take_by_rules<core::LeasedJob>(
        *rules_, core::QueueRules::Claimer::external, !request.queues.empty(), request.max, std::move(loads),
        request.now, [this, &tx, &request, &types, &payload_bytes](const std::string& queue, std::size_t n) {
            return lease_from(tx, queue, n, request, types, payload_bytes);
        });
    co_await store_buckets(tx, rate_limited);
    co_return leased;
}

asio::awaitable<std::vector<core::LeasedJob>> PgJobStore::lease_from(Transaction& tx, std::string queue, std::size_t n,
                                                                     const core::LeaseRequest& request,
                                                                     std::optional<std::string> types,
                                                                     std::int64_t& payload_bytes) {
    std::vector<core::LeasedJob> leased;
    if (payload_bytes >= max_leased_payload_bytes) co_return leased;
    n = co_await room_in(tx, queue, n);
    if (n == 0) co_return leased;
    std::vector<std::string> tokens;
    for (std::size_t i = 0; i < n; ++i) tokens.push_back(core::new_lease_token());
    auto statements = batch(Statement(
        sql_lease, params(std::move(queue), std::to_string(request.now), std::to_string(n),
                          std::to_string(request.lease_until), request.worker, std::move(types), text_array(tokens),
                          std::to_string(payload_bytes), std::to_string(max_leased_payload_bytes))));
    auto results = co_await tx.run(std::move(statements));
    const Result& rows = results[0];
    for (int row = 0; row < rows.rows(); ++row) {
        auto job = read_job(rows, row);
        payload_bytes += static_cast<std::int64_t>(job.payload.size());
        tx.changes().moved(job.queue, job.type, core::JobState::queued, core::JobState::processing,
                           core::JobEvent::started);
        leased.push_back({std::move(job), std::string(rows.text(row, job_column_count))});
    }
    // RETURNING keeps no order: the claim order is the store's promise.
    std::sort(leased.begin(), leased.end(),
              [](const core::LeasedJob& a, const core::LeasedJob& b) { return claim_order(a.job, b.job); });
    co_return leased;
}

asio::awaitable<core::Result<Job>> PgJobStore::settle_lease(core::LeaseSettlement settlement) {
    // Durable: the worker is told its outcome is recorded, and will not send it again.
    return in_transaction<core::Result<Job>>(
        [this, settlement = std::move(settlement)](Transaction& tx) { return settle_leased(tx, settlement); });
}

asio::awaitable<std::vector<core::Result<void>>> PgJobStore::settle_leases(
    std::vector<core::LeaseSettlement> settlements) {
    return in_transaction<std::vector<core::Result<void>>>(
        [this, settlements = std::move(settlements)](Transaction& tx) { return settle_each(tx, settlements); });
}

asio::awaitable<std::vector<core::Result<void>>> PgJobStore::settle_each(
    Transaction& tx, std::vector<core::LeaseSettlement> settlements) {
    std::vector<core::Result<void>> results;
    results.reserve(settlements.size());
    for (auto& settlement : settlements) {
        const auto settled = co_await settle_leased(tx, std::move(settlement));
        results.push_back(settled ? core::Result<void>{} : core::Result<void>(settled.error()));
    }
    co_return results;
}

asio::awaitable<core::Result<Job>> PgJobStore::settle_leased(Transaction& tx, core::LeaseSettlement settlement) {
    const auto id = settlement.id;
    auto token = settlement.token;
    auto job = co_await leased_by(tx, id, std::move(token));
    if (!job) co_return job.error();
    core::Settlement st = settlement.decide(*job);
    st.id = job->id;
    st.attempt = job->attempts;
    st.queue = job->queue;
    st.type = job->type;
    std::vector<core::Settlement> one;
    one.push_back(std::move(st));
    const auto recorded = co_await settle_in(tx, std::move(one));
    if (!recorded.front())
        co_return core::make_error(core::errc::lease_lost, "job " + std::to_string(job->id) + " moved on meanwhile");
    auto statements = batch(Statement(sql_get_job, params(std::to_string(job->id))));
    auto after = co_await tx.run(std::move(statements));
    co_return read_job(after[0], 0);
}

asio::awaitable<core::Result<millis>> PgJobStore::extend_lease(core::job_id id, std::string token, millis lease_until) {
    return in_transaction<core::Result<millis>>(
        [id, token = std::move(token), lease_until](Transaction& tx) { return extend_in(tx, id, token, lease_until); });
}

}  // namespace jobq::storage::pg
