#pragma once
// Reads a server's database file directly (WAL lets a reader run beside the server).

#include "test_store.hpp"

#include <cstdint>
#include <map>
#include <utility>
#include <string>
#include <vector>

namespace jobq::test {

namespace job_db_detail {
inline std::int64_t number(const std::optional<std::string>& text) {
    return text ? std::stoll(*text) : 0;
}
}  // namespace job_db_detail

// id -> state of every job in the database.
inline std::map<std::int64_t, std::string> job_states(const std::string& db_path) {
    std::map<std::int64_t, std::string> states;
    for (const auto& row : query_database(db_path, "SELECT id, state FROM jobs"))
        states[job_db_detail::number(row[0])] = row[1].value_or("");
    return states;
}

struct JobRow {
    std::string state;
    std::int64_t attempts = 0;
    std::string mark;  // the payload's "mark" field, empty when it has none
};

// id -> row of every job in the database.
inline std::map<std::int64_t, JobRow> job_rows(const std::string& db_path) {
    const std::string mark = on_postgres(db_path) ? "payload::json->>'mark'" : "json_extract(payload, '$.mark')";
    std::map<std::int64_t, JobRow> rows;
    for (const auto& row : query_database(db_path, "SELECT id, state, attempts, " + mark + " FROM jobs"))
        rows[job_db_detail::number(row[0])] = {row[1].value_or(""), job_db_detail::number(row[2]), row[3].value_or("")};
    return rows;
}

// "queue/state" -> jobs, counted over the jobs (GROUP BY) when `table` is "jobs", or as
// the server keeps them when it is "job_counts".
inline std::map<std::string, std::int64_t> jobs_per_queue_and_state(const std::string& db_path,
                                                                   const std::string& table) {
    const std::string kept = on_postgres(db_path) ? "SUM(n)" : "SUM(count)";
    const std::string count = table == "jobs" ? "COUNT(*)" : kept;
    std::map<std::string, std::int64_t> counts;
    for (const auto& row :
         query_database(db_path, "SELECT queue, state, " + count + " FROM " + table + " GROUP BY queue, state")) {
        const auto n = job_db_detail::number(row[2]);
        if (n != 0) counts[row[0].value_or("") + "/" + row[1].value_or("")] = n;
    }
    return counts;
}

inline std::size_t count_in_state(const std::string& db_path, const std::string& state) {
    std::size_t n = 0;
    for (const auto& [id, s] : job_states(db_path)) n += s == state;
    return n;
}

// When each started job of the database last started and finished (0: not yet), in start
// order.
struct JobRun {
    std::int64_t id = 0;
    std::string queue;
    std::int64_t created_at = 0;
    std::int64_t started_at = 0;
    std::int64_t finished_at = 0;
};

inline std::vector<JobRun> job_runs(const std::string& db_path) {
    std::vector<JobRun> runs;
    for (const auto& row : query_database(db_path,
                                          "SELECT id, queue, created_at, started_at, COALESCE(finished_at, 0) FROM jobs "
                                          "WHERE started_at IS NOT NULL ORDER BY started_at, id"))
        runs.push_back({job_db_detail::number(row[0]), row[1].value_or(""), job_db_detail::number(row[2]),
                        job_db_detail::number(row[3]), job_db_detail::number(row[4])});
    return runs;
}

}  // namespace jobq::test
