// Schedules (core::ScheduleStore) of SqliteJobStore: one row each in `schedules`; a tick's
// jobs and the schedule's advance written by one group-commit transaction.

#include "storage/sqlite/job_rows.hpp"
#include "storage/sqlite/sqlite_job_store.hpp"

namespace jobq::storage {

using core::millis;
using core::Schedule;

namespace {

constexpr std::string_view schedule_columns =
    "name, cron, timezone, job_type, payload, queue, priority, max_retries, external, catch_up, paused, anchor, "
    "next_run_at, last_run_at, last_job_id, revision";

// A replaced schedule keeps what it fired last; with the same timing, running before and
// after, it keeps its ticks too (a configuration applied again moves none of them).
#define JOBQ_SAME_TIMING \
    "schedules.cron = excluded.cron AND schedules.timezone = excluded.timezone AND schedules.paused = 0 AND " \
    "excluded.paused = 0"
constexpr std::string_view sql_put =
    "INSERT INTO schedules (name, cron, timezone, job_type, payload, queue, priority, max_retries, external, catch_up, "
    "paused, anchor, next_run_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13) "
    "ON CONFLICT (name) DO UPDATE SET cron = excluded.cron, timezone = excluded.timezone, "
    "job_type = excluded.job_type, payload = excluded.payload, queue = excluded.queue, priority = excluded.priority, "
    "max_retries = excluded.max_retries, external = excluded.external, catch_up = excluded.catch_up, "
    "paused = excluded.paused, "
    "anchor = CASE WHEN " JOBQ_SAME_TIMING " THEN schedules.anchor ELSE excluded.anchor END, "
    "next_run_at = CASE WHEN " JOBQ_SAME_TIMING " THEN schedules.next_run_at ELSE excluded.next_run_at END, "
    "revision = schedules.revision + 1";
#undef JOBQ_SAME_TIMING
constexpr std::string_view sql_exists = "SELECT 1 FROM schedules WHERE name = ?1";
constexpr std::string_view sql_delete = "DELETE FROM schedules WHERE name = ?1";
constexpr std::string_view sql_summary =
    "SELECT COUNT(*), IFNULL(SUM(paused), 0), MIN(CASE WHEN paused = 0 THEN next_run_at END) FROM schedules";
constexpr std::string_view sql_advance =
    "UPDATE schedules SET next_run_at = ?2, last_run_at = COALESCE(?3, last_run_at), "
    "last_job_id = COALESCE(?4, last_job_id) WHERE name = ?1 AND next_run_at = ?5 AND paused = 0 AND revision = ?6";

std::string select_schedules(std::string_view where) {
    return "SELECT " + std::string(schedule_columns) + " FROM schedules " + std::string(where);
}

Schedule read_schedule(const Statement& s) {
    Schedule schedule;
    schedule.name = s.column_text(0);
    schedule.cron = s.column_text(1);
    schedule.timezone = s.column_text(2);
    schedule.job.type = s.column_text(3);
    schedule.job.payload = s.column_text(4);
    schedule.job.queue = s.column_text(5);
    schedule.job.priority = s.column_int64(6);
    schedule.job.max_retries = static_cast<std::int32_t>(s.column_int64(7));
    schedule.job.external = s.column_int64(8) != 0;
    schedule.catch_up = core::parse_catch_up(s.column_text(9)).value_or(core::CatchUp::latest);
    schedule.paused = s.column_int64(10) != 0;
    schedule.anchor = s.column_int64(11);
    schedule.next_run_at = s.column_optional_int64(12);
    schedule.last_run_at = s.column_optional_int64(13);
    schedule.last_job_id = s.column_optional_int64(14);
    schedule.revision = s.column_int64(15);
    return schedule;
}

bool put_row(Database& db, const Schedule& schedule) {
    const bool existed = db.cached(sql_exists)->bind(1, schedule.name).step();
    auto s = db.cached(sql_put);
    s->bind(1, schedule.name).bind(2, schedule.cron).bind(3, schedule.timezone).bind(4, schedule.job.type);
    s->bind(5, schedule.job.payload).bind(6, schedule.job.queue).bind(7, schedule.job.priority);
    s->bind(8, static_cast<std::int64_t>(schedule.job.max_retries)).bind(9, std::int64_t{schedule.job.external});
    s->bind(10, core::to_string(schedule.catch_up)).bind(11, std::int64_t{schedule.paused}).bind(12, schedule.anchor);
    s->bind(13, schedule.next_run_at);
    s->run();
    return !existed;
}

std::optional<core::FiredTicks> fire_row(Database& db, core::JobChanges& changes, const std::string& name,
                                         std::int64_t revision, millis expected, const std::vector<millis>& ticks,
                                         std::optional<millis> next_run_at, millis now) {
    const auto found = [&]() -> std::optional<Schedule> {
        auto s = db.cached(select_schedules("WHERE name = ?1"));
        s->bind(1, name);
        if (!s->step()) return std::nullopt;
        return read_schedule(*s);
    }();
    if (!found || found->paused || found->next_run_at != expected || found->revision != revision) return std::nullopt;
    core::FiredTicks fired;
    for (const millis tick : ticks) {
        core::JobSpec spec = found->job;
        spec.run_at = now;
        spec.idempotency_key = core::tick_key(name, tick);
        const auto stored = insert_job(db, changes, spec, now);
        fired.jobs.push_back(stored.job.id);
        fired.created += stored.created ? 1 : 0;
    }
    auto advance = db.cached(sql_advance);
    advance->bind(1, name).bind(2, next_run_at);
    advance->bind(3, ticks.empty() ? std::nullopt : std::optional<std::int64_t>(ticks.back()));
    advance->bind(4, fired.jobs.empty() ? std::nullopt : std::optional<std::int64_t>(fired.jobs.back()));
    advance->bind(5, expected).bind(6, revision);
    advance->run();  // one row: the SELECT above saw it as the guard wants it, in this transaction
    return fired;
}

}  // namespace

boost::asio::awaitable<bool> SqliteJobStore::put_schedule(Schedule schedule) {
    return in_transaction<bool>([schedule = std::move(schedule)](Database& db, core::JobChanges&) {
        return put_row(db, schedule);
    });
}

boost::asio::awaitable<std::optional<Schedule>> SqliteJobStore::get_schedule(std::string name) {
    return read<std::optional<Schedule>>([name = std::move(name)](Database& db) -> std::optional<Schedule> {
        auto s = db.cached(select_schedules("WHERE name = ?1"));
        s->bind(1, name);
        if (!s->step()) return std::nullopt;
        return read_schedule(*s);
    });
}

boost::asio::awaitable<std::vector<Schedule>> SqliteJobStore::list_schedules() {
    return read<std::vector<Schedule>>([](Database& db) {
        std::vector<Schedule> schedules;
        auto s = db.cached(select_schedules("ORDER BY name"));
        while (s->step()) schedules.push_back(read_schedule(*s));
        return schedules;
    });
}

boost::asio::awaitable<core::ScheduleSummary> SqliteJobStore::summarize_schedules() {
    return read<core::ScheduleSummary>([](Database& db) {
        auto s = db.cached(sql_summary);
        s->step();
        core::ScheduleSummary summary;
        summary.total = static_cast<std::size_t>(s->column_int64(0));
        summary.paused = static_cast<std::size_t>(s->column_int64(1));
        summary.next_run_at = s->column_optional_int64(2);
        return summary;
    });
}

boost::asio::awaitable<bool> SqliteJobStore::delete_schedule(std::string name) {
    return in_transaction<bool>([name = std::move(name)](Database& db, core::JobChanges&) {
        return db.cached(sql_delete)->bind(1, name).run() == 1;
    });
}

boost::asio::awaitable<std::optional<core::FiredTicks>> SqliteJobStore::fire_schedule(
    std::string name, std::int64_t revision, millis expected, std::vector<millis> ticks,
    std::optional<millis> next_run_at, millis now) {
    return in_transaction<std::optional<core::FiredTicks>>(
        [name = std::move(name), revision, expected, ticks = std::move(ticks), next_run_at, now](
            Database& db, core::JobChanges& changes) {
            return fire_row(db, changes, name, revision, expected, ticks, next_run_at, now);
        });
}

}  // namespace jobq::storage
