#pragma once
// Reads a server's database file directly (WAL lets a reader run beside the server).

#include "storage/sqlite/sqlite.hpp"

#include <map>
#include <utility>
#include <string>
#include <vector>

namespace jobq::test {

// id -> state of every job in the file.
inline std::map<std::int64_t, std::string> job_states(const std::string& db_path) {
    storage::Database db(db_path, storage::Synchronous::normal);
    std::map<std::int64_t, std::string> states;
    auto s = db.cached("SELECT id, state FROM jobs");
    while (s->step()) states[s->column_int64(0)] = s->column_text(1);
    return states;
}

struct JobRow {
    std::string state;
    std::int64_t attempts = 0;
    std::string mark;  // the payload's "mark" field, empty when it has none
};

// id -> row of every job in the file.
inline std::map<std::int64_t, JobRow> job_rows(const std::string& db_path) {
    storage::Database db(db_path, storage::Synchronous::normal);
    std::map<std::int64_t, JobRow> rows;
    auto s = db.cached("SELECT id, state, attempts, json_extract(payload, '$.mark') FROM jobs");
    while (s->step()) rows[s->column_int64(0)] = {s->column_text(1), s->column_int64(2), s->column_text(3)};
    return rows;
}

// "queue/state" -> jobs, counted over the jobs (GROUP BY) when `table` is "jobs", or as
// the server keeps them when it is "job_counts".
inline std::map<std::string, std::int64_t> jobs_per_queue_and_state(const std::string& db_path,
                                                                   const std::string& table) {
    storage::Database db(db_path, storage::Synchronous::normal);
    const std::string count = table == "jobs" ? "COUNT(*)" : "SUM(count)";
    std::map<std::string, std::int64_t> counts;
    auto s = db.cached("SELECT queue, state, " + count + " FROM " + table + " GROUP BY queue, state");
    while (s->step()) counts[s->column_text(0) + "/" + s->column_text(1)] = s->column_int64(2);
    return counts;
}

inline std::size_t count_in_state(const std::string& db_path, const std::string& state) {
    std::size_t n = 0;
    for (const auto& [id, s] : job_states(db_path)) n += s == state;
    return n;
}

// When each started job of the file last started and finished (0: not yet), in start order.
struct JobRun {
    std::int64_t id = 0;
    std::string queue;
    std::int64_t created_at = 0;
    std::int64_t started_at = 0;
    std::int64_t finished_at = 0;
};

inline std::vector<JobRun> job_runs(const std::string& db_path) {
    storage::Database db(db_path, storage::Synchronous::normal);
    std::vector<JobRun> runs;
    auto s = db.cached(
        "SELECT id, queue, created_at, started_at, COALESCE(finished_at, 0) FROM jobs WHERE started_at IS NOT NULL "
        "ORDER BY started_at, id");
    while (s->step())
        runs.push_back({s->column_int64(0), s->column_text(1), s->column_int64(2), s->column_int64(3), s->column_int64(4)});
    return runs;
}

}  // namespace jobq::test
