// External leases (core::LeaseStore) of SqliteJobStore: jobs of external types handed out
// in their own claim order (jobs_lease_order), each lease fenced by its token and attempt.

#include "core/lease_token.hpp"
#include "storage/sqlite/job_rows.hpp"
#include "storage/sqlite/settle_rows.hpp"
#include "storage/sqlite/sqlite_job_store.hpp"

namespace jobq::storage {

using core::Job;
using core::millis;

namespace {

// As the built-in claim (sqlite_job_store.cpp), over one queue's external jobs; narrowed
// by a JSON array of types (NULL: any).
constexpr std::string_view sql_leasable =
    "SELECT " JOBQ_JOB_COLUMNS " FROM jobs INDEXED BY jobs_lease_order WHERE state = 'queued' AND due = 1 "
    "AND external = 1 AND queue = ?3 AND (?2 IS NULL OR type IN (SELECT value FROM json_each(?2))) "
    "ORDER BY priority DESC, run_at, id LIMIT ?1";
constexpr std::string_view sql_take =
    "UPDATE jobs SET state = 'processing', attempts = attempts + 1, lease_expires_at = ?2, started_at = ?3, "
    "lease_token = ?4, worker = ?5 WHERE id = ?1 AND state = 'queued'";
constexpr std::string_view sql_token = "SELECT lease_token FROM jobs WHERE id = ?1";
// Only external jobs: a built-in job marked due here would be hidden from the dispatcher,
// whose next wake-up is the earliest job not yet due.
constexpr std::string_view sql_mark_external_due =
    "UPDATE jobs INDEXED BY jobs_waiting SET due = 1 WHERE state = 'queued' AND due = 0 AND run_at <= ?1 AND external = 1";
// At most this much payload per lease request: the answer is built whole in memory.
constexpr std::size_t max_leased_payload_bytes = 8 << 20;
constexpr std::string_view sql_extend =
    "UPDATE jobs SET lease_expires_at = ?3 WHERE id = ?1 AND state = 'processing' AND attempts = ?2";

// Reads up to n of one queue's leasable jobs, while the request's payload stays under its
// limit (`payload_bytes` counts it over the whole request), and leases them.
std::vector<core::LeasedJob> lease_from(Database& db, core::JobChanges& changes, const core::LeaseRequest& request,
                                        const std::string& queue, std::size_t n, std::size_t& payload_bytes) {
    std::vector<Job> jobs;
    {
        auto s = db.cached(sql_leasable);
        s->bind(1, static_cast<std::int64_t>(n)).bind(2, json_name_list(request.types)).bind(3, queue);
        while (payload_bytes < max_leased_payload_bytes && s->step()) {
            jobs.push_back(read_job(*s));
            payload_bytes += jobs.back().payload.size();
        }
    }
    std::vector<core::LeasedJob> leased;
    leased.reserve(jobs.size());
    for (auto& job : jobs) {
        auto token = core::new_lease_token();
        auto take = db.cached(sql_take);
        take->bind(1, job.id).bind(2, request.lease_until).bind(3, request.now).bind(4, token).bind(5, request.worker);
        if (take->run() != 1) throw core::StorageError("lease: job " + std::to_string(job.id) + " is no longer queued");
        job.state = core::JobState::processing;
        job.attempts += 1;
        job.lease_expires_at = request.lease_until;
        job.started_at = request.now;
        job.worker = request.worker;
        changes.moved(job.queue, job.type, core::JobState::queued, core::JobState::processing, core::JobEvent::started);
        leased.push_back({std::move(job), std::move(token)});
    }
    return leased;
}

// The job `token` leases now, or why not.
core::Result<Job> leased_by(Database& db, core::job_id id, std::string_view token) {
    auto job = find_job(db, id);
    if (!job) return core::make_error(core::errc::not_found, "no job " + std::to_string(id));
    auto s = db.cached(sql_token);
    s->bind(1, id);
    const auto current = s->step() ? s->column_optional_text(0) : std::nullopt;
    // Compared in constant time: how long a refusal takes says nothing of the token held.
    const bool held = current && core::same_token(*current, token);
    if (!held || job->state != core::JobState::processing || !job->external)
        return core::make_error(core::errc::lease_lost,
                                "job " + std::to_string(id) + " is not leased with that token (expired, settled or "
                                                              "never its)");
    return std::move(*job);
}

core::Result<Job> settle_leased(Database& db, core::JobChanges& changes, const core::LeaseSettlement& settlement) {
    auto job = leased_by(db, settlement.id, settlement.token);
    if (!job) return job.error();
    core::Settlement st = settlement.decide(*job);
    st.id = job->id;
    st.attempt = job->attempts;
    st.queue = job->queue;
    st.type = job->type;
    if (!settle_row(db, changes, st))
        return core::make_error(core::errc::lease_lost, "job " + std::to_string(job->id) + " moved on meanwhile");
    return std::move(*find_job(db, job->id));
}

}  // namespace

boost::asio::awaitable<std::vector<core::LeasedJob>> SqliteJobStore::lease(core::LeaseRequest request) {
    // Redoable, as a claim: a lease lost in a power failure leaves its jobs queued.
    return in_transaction<std::vector<core::LeasedJob>>(
        [this, request = std::move(request)](Database& db, core::JobChanges& changes) {
            db.cached(sql_mark_external_due)->bind(1, request.now).run();
            const auto loads = core::queue_loads(kept_->counts(), changes, request.queues);
            std::size_t payload_bytes = 0;
            return core::take_by_rules(*rules_, core::QueueRules::Claimer::external, !request.queues.empty(),
                                       request.max, loads, request.now,
                                       [&](const std::string& queue, std::size_t n) {
                                           return lease_from(db, changes, request, queue, n, payload_bytes);
                                       });
        },
        Durability::redoable);
}

boost::asio::awaitable<core::Result<Job>> SqliteJobStore::settle_lease(core::LeaseSettlement settlement) {
    // Durable: the worker is told its outcome is recorded, and will not send it again.
    return in_transaction<core::Result<Job>>(
        [settlement = std::move(settlement)](Database& db, core::JobChanges& changes) {
            return settle_leased(db, changes, settlement);
        });
}

boost::asio::awaitable<std::vector<core::Result<void>>> SqliteJobStore::settle_leases(
    std::vector<core::LeaseSettlement> settlements) {
    return in_transaction<std::vector<core::Result<void>>>(
        [settlements = std::move(settlements)](Database& db, core::JobChanges& changes) {
            std::vector<core::Result<void>> results;
            results.reserve(settlements.size());
            for (const auto& settlement : settlements) {
                const auto settled = settle_leased(db, changes, settlement);
                results.push_back(settled ? core::Result<void>{} : core::Result<void>(settled.error()));
            }
            return results;
        });
}

boost::asio::awaitable<core::Result<millis>> SqliteJobStore::extend_lease(core::job_id id, std::string token,
                                                                          millis lease_until) {
    return in_transaction<core::Result<millis>>(
        [id, token = std::move(token), lease_until](Database& db, core::JobChanges&) -> core::Result<millis> {
            const auto job = leased_by(db, id, token);
            if (!job) return job.error();
            db.cached(sql_extend)->bind(1, id).bind(2, std::int64_t{job->attempts}).bind(3, lease_until).run();
            return lease_until;
        });
}

}  // namespace jobq::storage
