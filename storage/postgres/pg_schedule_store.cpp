// Schedules (core::ScheduleStore) of PgJobStore: one row each in `schedules`; a tick's
// jobs and the schedule's advance written by one group-commit transaction. On many nodes
// only the leader fires them; the guard on revision and next_run_at keeps a tick from
// firing twice should two ever try.

#include "storage/postgres/job_rows.hpp"
#include "storage/postgres/pg_job_store.hpp"

namespace jobq::storage::pg {

namespace asio = boost::asio;
using core::millis;
using core::Schedule;

namespace {

#define JOBQ_PG_SCHEDULE_COLUMNS                                                                                  \
    "name, cron, timezone, job_type, payload, queue, priority, max_retries, external, catch_up, paused, anchor, " \
    "next_run_at, last_run_at, last_job_id, revision"

// A replaced schedule keeps what it fired last; with the same timing, running before and
// after, it keeps its ticks too (a configuration applied again moves none of them).
#define JOBQ_SAME_TIMING                                                                                  \
    "schedules.cron = excluded.cron AND schedules.timezone = excluded.timezone AND NOT schedules.paused " \
    "AND NOT excluded.paused"
constexpr const char* sql_put =
    "INSERT INTO schedules (name, cron, timezone, job_type, payload, queue, priority, max_retries, external, catch_up,"
    " paused, anchor, next_run_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
    " ON CONFLICT (name) DO UPDATE SET cron = excluded.cron, timezone = excluded.timezone,"
    " job_type = excluded.job_type, payload = excluded.payload, queue = excluded.queue, priority = excluded.priority,"
    " max_retries = excluded.max_retries, external = excluded.external, catch_up = excluded.catch_up,"
    " paused = excluded.paused,"
    " anchor = CASE WHEN " JOBQ_SAME_TIMING
    " THEN schedules.anchor ELSE excluded.anchor END,"
    " next_run_at = CASE WHEN " JOBQ_SAME_TIMING
    " THEN schedules.next_run_at ELSE excluded.next_run_at END,"
    " revision = schedules.revision + 1";
#undef JOBQ_SAME_TIMING
constexpr const char* sql_exists = "SELECT 1 FROM schedules WHERE name = $1 FOR UPDATE";
constexpr const char* sql_delete = "DELETE FROM schedules WHERE name = $1";
constexpr const char* sql_one = "SELECT " JOBQ_PG_SCHEDULE_COLUMNS " FROM schedules WHERE name = $1";
constexpr const char* sql_lock_one = "SELECT " JOBQ_PG_SCHEDULE_COLUMNS " FROM schedules WHERE name = $1 FOR UPDATE";
constexpr const char* sql_all = "SELECT " JOBQ_PG_SCHEDULE_COLUMNS " FROM schedules ORDER BY name";
constexpr const char* sql_summary =
    "SELECT count(*), count(*) FILTER (WHERE paused), min(next_run_at) FILTER (WHERE NOT paused) FROM schedules";
constexpr const char* sql_advance =
    "UPDATE schedules SET next_run_at = $2, last_run_at = coalesce($3, last_run_at),"
    " last_job_id = coalesce($4, last_job_id) WHERE name = $1";
#undef JOBQ_PG_SCHEDULE_COLUMNS

Schedule read_schedule(const Result& r, int row) {
    Schedule schedule;
    schedule.name = r.text(row, 0);
    schedule.cron = r.text(row, 1);
    schedule.timezone = r.text(row, 2);
    schedule.job.type = r.text(row, 3);
    schedule.job.payload = r.text(row, 4);
    schedule.job.queue = r.text(row, 5);
    schedule.job.priority = r.int64(row, 6);
    schedule.job.max_retries = static_cast<std::int32_t>(r.int64(row, 7));
    schedule.job.external = r.boolean(row, 8);
    schedule.catch_up = core::parse_catch_up(r.text(row, 9)).value_or(core::CatchUp::latest);
    schedule.paused = r.boolean(row, 10);
    schedule.anchor = r.int64(row, 11);
    schedule.next_run_at = r.optional_int64(row, 12);
    schedule.last_run_at = r.optional_int64(row, 13);
    schedule.last_job_id = r.optional_int64(row, 14);
    schedule.revision = r.int64(row, 15);
    return schedule;
}

Param optional_number(std::optional<std::int64_t> value) {
    return value ? Param(std::to_string(*value)) : std::nullopt;
}

asio::awaitable<bool> put_row(Transaction& tx, Schedule schedule) {
    auto statements =
        batch(Statement(sql_exists, params(schedule.name)),
              Statement(sql_put, params(schedule.name, schedule.cron, schedule.timezone, schedule.job.type,
                                        schedule.job.payload, schedule.job.queue, std::to_string(schedule.job.priority),
                                        std::to_string(schedule.job.max_retries), schedule.job.external ? "t" : "f",
                                        std::string(core::to_string(schedule.catch_up)), schedule.paused ? "t" : "f",
                                        std::to_string(schedule.anchor), optional_number(schedule.next_run_at))));
    auto results = co_await tx.run(std::move(statements));
    tx.notify(notice_schedules);
    co_return results[0].rows() == 0;
}

asio::awaitable<bool> delete_row(Transaction& tx, std::string name) {
    auto statements = batch(Statement(sql_delete, params(std::move(name))));
    auto results = co_await tx.run(std::move(statements));
    tx.notify(notice_schedules);
    co_return results[0].affected() == 1;
}

asio::awaitable<std::optional<core::FiredTicks>> fire_row(Transaction& tx, std::string name, std::int64_t revision,
                                                          millis expected, std::vector<millis> ticks,
                                                          std::optional<millis> next_run_at, millis now) {
    auto lock = batch(Statement(sql_lock_one, params(name)));
    auto locked = co_await tx.run(std::move(lock));
    if (locked[0].rows() == 0) co_return std::nullopt;
    const auto found = read_schedule(locked[0], 0);
    if (found.paused || found.next_run_at != expected || found.revision != revision) co_return std::nullopt;
    std::vector<core::JobSpec> specs;
    for (const millis tick : ticks) {
        core::JobSpec spec = found.job;
        spec.run_at = now;
        spec.idempotency_key = core::tick_key(name, tick);
        specs.push_back(std::move(spec));
    }
    core::FiredTicks fired;
    const auto stored_jobs = co_await insert_jobs(tx, std::move(specs), now);
    for (const auto& stored : stored_jobs) {
        fired.jobs.push_back(stored.job.id);
        fired.created += stored.created ? 1 : 0;
    }
    auto advance = batch(Statement(
        sql_advance,
        params(name, optional_number(next_run_at),
               optional_number(ticks.empty() ? std::nullopt : std::optional<std::int64_t>(ticks.back())),
               optional_number(fired.jobs.empty() ? std::nullopt : std::optional<std::int64_t>(fired.jobs.back())))));
    co_await tx.run(std::move(advance));
    co_return fired;
}

asio::awaitable<std::optional<Schedule>> one_schedule(asio::awaitable<std::vector<Result>> read) {
    auto results = co_await std::move(read);
    if (results[0].rows() == 0) co_return std::nullopt;
    co_return read_schedule(results[0], 0);
}

asio::awaitable<std::vector<Schedule>> all_schedules(asio::awaitable<std::vector<Result>> read) {
    auto results = co_await std::move(read);
    std::vector<Schedule> schedules;
    for (int row = 0; row < results[0].rows(); ++row) schedules.push_back(read_schedule(results[0], row));
    co_return schedules;
}

asio::awaitable<core::ScheduleSummary> summary_of(asio::awaitable<std::vector<Result>> read) {
    auto results = co_await std::move(read);
    core::ScheduleSummary summary;
    summary.total = static_cast<std::size_t>(results[0].int64(0, 0));
    summary.paused = static_cast<std::size_t>(results[0].int64(0, 1));
    summary.next_run_at = results[0].optional_int64(0, 2);
    co_return summary;
}

}  // namespace

asio::awaitable<bool> PgJobStore::put_schedule(Schedule schedule) {
    return in_transaction<bool>([schedule = std::move(schedule)](Transaction& tx) { return put_row(tx, schedule); });
}

asio::awaitable<std::optional<Schedule>> PgJobStore::get_schedule(std::string name) {
    return one_schedule(read(batch(Statement(sql_one, params(std::move(name))))));
}

asio::awaitable<std::vector<Schedule>> PgJobStore::list_schedules() {
    return all_schedules(read(batch(Statement(sql_all))));
}

asio::awaitable<core::ScheduleSummary> PgJobStore::summarize_schedules() {
    return summary_of(read(batch(Statement(sql_summary))));
}

asio::awaitable<bool> PgJobStore::delete_schedule(std::string name) {
    return in_transaction<bool>([name = std::move(name)](Transaction& tx) { return delete_row(tx, name); });
}

asio::awaitable<std::optional<core::FiredTicks>> PgJobStore::fire_schedule(std::string name, std::int64_t revision,
                                                                           millis expected, std::vector<millis> ticks,
                                                                           std::optional<millis> next_run_at,
                                                                           millis now) {
    return in_transaction<std::optional<core::FiredTicks>>(
        [name = std::move(name), revision, expected, ticks = std::move(ticks), next_run_at, now](Transaction& tx) {
            return fire_row(tx, name, revision, expected, ticks, next_run_at, now);
        });
}

}  // namespace jobq::storage::pg
