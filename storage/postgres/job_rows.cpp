#include "storage/postgres/job_rows.hpp"

#include "storage/postgres/arrays.hpp"

#include <map>

namespace jobq::storage::pg {

namespace asio = boost::asio;
using core::Job;

namespace {

// Ids are drawn in the CTE, before the insert, so each input row knows its id
// whether or not it is inserted: the join answers, per row in submission order,
// whether it was stored. A key already stored (or earlier in the same batch)
// stores nothing; one stored before draws no id (one stored by a transaction
// committing meanwhile still does). Rows go in key order: two nodes storing the same
// keys wait for each other in one order, never in a cycle.
constexpr const char* sql_insert_jobs =
    "WITH input AS MATERIALIZED ( SELECT CASE WHEN i.idempotency_key IS NULL OR NOT EXISTS (SELECT 1 FROM jobs AS k "
    "WHERE k.idempotency_key = i.idempotency_key) THEN nextval('jobs_id_seq') END AS id, i.* FROM unnest($1::text[], "
    "$2::text[], $3::bigint[], $4::text[], $5::integer[], $6::bigint[], $7::text[], $8::boolean[]) WITH ORDINALITY AS "
    "i(type, queue, priority, payload, max_retries, run_at, idempotency_key, external, ord)), inserted AS ( INSERT "
    "INTO jobs (id, type, queue, priority, payload, state, max_retries, run_at, idempotency_key, created_at, external, "
    "due) SELECT id, type, queue, priority, payload, 'queued', max_retries, run_at, idempotency_key, $9::bigint, "
    "external, run_at <= $9::bigint "
    "FROM input WHERE id IS NOT NULL ORDER BY idempotency_key NULLS LAST, ord ON CONFLICT (idempotency_key) WHERE "
    "idempotency_key IS NOT NULL DO "
    "NOTHING RETURNING id) SELECT input.id, inserted.id IS NOT NULL FROM input LEFT JOIN inserted ON inserted.id = "
    "input.id ORDER BY input.ord";

// Rows another node's transaction is marking are left to it (SKIP LOCKED): two nodes never
// wait for each other here, in whatever order they meet the rows.
constexpr const char* sql_mark_due =
    "UPDATE jobs SET due = true WHERE id IN (SELECT id FROM jobs WHERE state = 'queued' AND NOT due AND run_at <= $1 "
    "AND (external OR NOT $2) FOR UPDATE SKIP LOCKED)";

constexpr const char* sql_by_keys = "SELECT " JOBQ_PG_JOB_COLUMNS " FROM jobs WHERE idempotency_key = ANY($1::text[])";

// The stored row, built from what was inserted: cheaper than reading it back.
Job job_from_spec(core::JobSpec&& spec, core::job_id id, core::millis now) {
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
    job.external = spec.external;
    return job;
}

Statement insert_statement(const std::vector<core::JobSpec>& specs, core::millis now) {
    std::vector<std::string> types, queues, payloads;
    std::vector<std::int64_t> priorities, max_retries, run_ats;
    std::vector<std::optional<std::string>> keys;
    std::vector<bool> external;
    for (const auto& spec : specs) {
        types.push_back(spec.type);
        queues.push_back(spec.queue);
        priorities.push_back(spec.priority);
        payloads.push_back(spec.payload);
        max_retries.push_back(spec.max_retries);
        run_ats.push_back(spec.run_at);
        keys.push_back(spec.idempotency_key);
        external.push_back(spec.external);
    }
    return {sql_insert_jobs,
            {text_array(types), text_array(queues), int_array(priorities), text_array(payloads), int_array(max_retries),
             int_array(run_ats), text_array(keys), bool_array(external), std::to_string(now)}};
}

}  // namespace

Statement mark_due(core::millis now, bool external_only) {
    return Statement(sql_mark_due, params(std::to_string(now), external_only ? "t" : "f"));
}

Job read_job(const Result& r, int row, int first) {
    Job job;
    job.id = r.int64(row, first + 0);
    job.type = r.text(row, first + 1);
    job.queue = r.text(row, first + 2);
    job.priority = r.int64(row, first + 3);
    job.payload = r.text(row, first + 4);
    job.state = core::parse_job_state(r.text(row, first + 5)).value_or(core::JobState::failed);
    job.attempts = static_cast<std::int32_t>(r.int64(row, first + 6));
    job.max_retries = static_cast<std::int32_t>(r.int64(row, first + 7));
    job.run_at = r.int64(row, first + 8);
    job.lease_expires_at = r.optional_int64(row, first + 9);
    job.idempotency_key = r.optional_text(row, first + 10);
    job.last_error = r.optional_text(row, first + 11);
    job.created_at = r.int64(row, first + 12);
    job.started_at = r.optional_int64(row, first + 13);
    job.finished_at = r.optional_int64(row, first + 14);
    job.attempt_base = static_cast<std::int32_t>(r.int64(row, first + 15));
    job.external = r.boolean(row, first + 16);
    job.worker = r.optional_text(row, first + 17);
    job.result = r.optional_text(row, first + 18);
    return job;
}

std::vector<Job> read_jobs(const Result& result) {
    std::vector<Job> jobs;
    jobs.reserve(static_cast<std::size_t>(result.rows()));
    for (int row = 0; row < result.rows(); ++row) jobs.push_back(read_job(result, row));
    return jobs;
}

asio::awaitable<std::vector<core::EnqueueResult>> insert_jobs(Transaction& tx, std::vector<core::JobSpec> specs,
                                                              core::millis now) {
    std::vector<core::EnqueueResult> results(specs.size());
    if (specs.empty()) co_return results;
    auto statements = batch(insert_statement(specs, now));
    auto inserted = co_await tx.run(std::move(statements));
    const Result& rows = inserted.at(0);
    if (static_cast<std::size_t>(rows.rows()) != specs.size())
        throw core::StorageError("enqueue: the database answered " + std::to_string(rows.rows()) + " rows for " +
                                 std::to_string(specs.size()) + " jobs");
    std::vector<std::string> taken_keys;
    for (std::size_t i = 0; i < specs.size(); ++i) {
        const int row = static_cast<int>(i);
        if (rows.boolean(row, 1)) {
            tx.changes().moved(specs[i].queue, specs[i].type, std::nullopt, core::JobState::queued,
                               core::JobEvent::enqueued);
            results[i] = {job_from_spec(std::move(specs[i]), rows.int64(row, 0), now), true};
        } else {
            taken_keys.push_back(specs[i].idempotency_key.value_or(""));
        }
    }
    if (taken_keys.empty()) co_return results;
    // The jobs whose keys were taken, as stored now (by another transaction, or
    // by this one for a key twice in the batch).
    auto lookup = batch(Statement(sql_by_keys, params(text_array(taken_keys))));
    auto found = co_await tx.run(std::move(lookup));
    std::map<std::string, Job, std::less<>> by_key;
    for (auto& job : read_jobs(found.at(0))) {
        auto key = job.idempotency_key.value_or("");
        by_key.emplace(std::move(key), std::move(job));
    }
    for (std::size_t i = 0; i < specs.size(); ++i) {
        if (results[i].job.id != 0) continue;
        const auto it = by_key.find(specs[i].idempotency_key.value_or(""));
        if (it == by_key.end())
            throw core::StorageError("enqueue: the idempotency key " + specs[i].idempotency_key.value_or("") +
                                     " conflicted, yet no job has it");
        results[i] = {it->second, false};
    }
    co_return results;
}

}  // namespace jobq::storage::pg
