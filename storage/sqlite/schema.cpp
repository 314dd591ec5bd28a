#include "storage/sqlite/schema.hpp"

#include "core/log.hpp"

#include <string>

namespace jobq::storage {
namespace {

// Every failed attempt, for operators asking why a job is where it is (since v1).
constexpr std::string_view job_attempts_table = R"sql(
CREATE TABLE job_attempts (
    job_id      INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    attempt     INTEGER NOT NULL,
    finished_at INTEGER NOT NULL,
    outcome     TEXT    NOT NULL,
    error       TEXT    NOT NULL,
    PRIMARY KEY (job_id, attempt)
) WITHOUT ROWID;
)sql";

// Retention finds finished jobs by state and age: a range seek per state, over finished
// rows only (finished_at is NULL until a job ends).
constexpr std::string_view schema_v2 = R"sql(
CREATE INDEX jobs_finished ON jobs (state, finished_at) WHERE finished_at IS NOT NULL;
)sql";

// v3: the same rule on `state`, written as comparisons. SQLite checks a CHECK constraint
// on every row it writes, and an IN list there builds a temporary B-tree each time: most
// of the work of the one-row UPDATE that records an outcome. Every row satisfies both
// forms, so only the stored definition changes, in place, by the procedure SQLite
// documents for changes that leave the table's content alone (writable_schema, then a new
// schema_version); no row is copied, whatever the size of the table.
constexpr std::string_view state_check_v1 = "CHECK (state IN ('queued', 'processing', 'done', 'failed', 'cancelled'))";
constexpr std::string_view state_check_v3 =
    "CHECK (state = 'queued' OR state = 'processing' OR state = 'done' OR state = 'failed' OR state = 'cancelled')";

// v4: the table rebuilt, by SQLite's documented procedure (new table, copy, drop, rename):
//  - AUTOINCREMENT: an id is never handed out twice in the life of the database. Without
//    it SQLite reuses the highest id once that row is deleted (DELETE, retention), and a
//    webhook receiver deduplicating on X-Jobq-Job-Id would drop the new job as a repeat.
//  - `due`: 1 when run_at had come as the row was last written, 0 for a job that waits
//    (delayed, or retrying after a backoff). The claim reads the first rows of one index
//    of due jobs, in claim order, whatever the number of priority levels or of waiting
//    jobs; the claim first marks due the waiting jobs whose run_at has come (a range seek
//    on jobs_waiting, which also gives the dispatcher's next wake-up).
//  - `attempt_base`: attempts made before the last operator retry. `attempts` only grows,
//    so it fences every attempt the job ever had and keys its history; the retry budget
//    counts from the base.
// Times are integer milliseconds since the Unix epoch.
constexpr std::string_view jobs_v4 = R"sql(
CREATE TABLE jobs_v4 (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    type             TEXT    NOT NULL,
    queue            TEXT    NOT NULL,
    priority         INTEGER NOT NULL DEFAULT 0,
    payload          TEXT    NOT NULL,
    state            TEXT    NOT NULL
        CHECK (state = 'queued' OR state = 'processing' OR state = 'done' OR state = 'failed' OR state = 'cancelled'),
    attempts         INTEGER NOT NULL DEFAULT 0,
    max_retries      INTEGER NOT NULL,
    run_at           INTEGER NOT NULL,
    lease_expires_at INTEGER,
    idempotency_key  TEXT,
    last_error       TEXT,
    created_at       INTEGER NOT NULL,
    started_at       INTEGER,
    finished_at      INTEGER,
    due              INTEGER NOT NULL DEFAULT 1,
    attempt_base     INTEGER NOT NULL DEFAULT 0
);
)sql";

// A v3 row keeps its values. Its attempts restarted at 0 on an operator retry, so its
// history may already hold the numbers the next attempts would take: such a job gets the
// history's highest number as its base, and its attempts counted on from there.
constexpr std::string_view copy_jobs_into_v4 = R"sql(
INSERT INTO jobs_v4 (id, type, queue, priority, payload, state, attempts, max_retries, run_at, lease_expires_at,
                     idempotency_key, last_error, created_at, started_at, finished_at, due, attempt_base)
SELECT j.id, j.type, j.queue, j.priority, j.payload, j.state,
       j.attempts + (CASE WHEN h.top > j.attempts THEN h.top ELSE 0 END),
       j.max_retries, j.run_at, j.lease_expires_at, j.idempotency_key, j.last_error, j.created_at, j.started_at,
       j.finished_at, j.run_at <= ?1, (CASE WHEN h.top > j.attempts THEN h.top ELSE 0 END)
FROM jobs AS j LEFT JOIN (SELECT job_id, MAX(attempt) AS top FROM job_attempts GROUP BY job_id) AS h ON h.job_id = j.id
)sql";

constexpr std::string_view replace_jobs_with_v4 = R"sql(
DROP TABLE jobs;
ALTER TABLE jobs_v4 RENAME TO jobs;
)sql";

constexpr std::string_view jobs_v4_indexes = R"sql(
-- Partial: most jobs have no key, and a plain UNIQUE column indexes every NULL too.
CREATE UNIQUE INDEX jobs_idempotency_key ON jobs (idempotency_key) WHERE idempotency_key IS NOT NULL;
-- The claim order, over jobs that are due.
CREATE INDEX jobs_claim_order ON jobs (priority DESC, run_at, id) WHERE state = 'queued' AND due = 1;
-- Jobs waiting for their run_at: the earliest is the dispatcher's next wake-up.
CREATE INDEX jobs_waiting ON jobs (run_at) WHERE state = 'queued' AND due = 0;
-- The reaper's timer and sweep.
CREATE INDEX jobs_leases ON jobs (lease_expires_at) WHERE state = 'processing';
-- Retention finds finished jobs by state and age: a range seek per state, over finished
-- rows only (finished_at is NULL until a job ends).
CREATE INDEX jobs_finished ON jobs (state, finished_at) WHERE finished_at IS NOT NULL;
)sql";

// v5: what reads need, so that none of them scans; they run on read-only connections
// beside the writer (SqliteJobStore's ReadPool).
//  - job_counts: jobs per queue, type and state, written in the transactions that change
//    them (KeptCounts): /stats, /metrics and the queue views read them from memory.
//  - jobs_state: the jobs a listing by state must find among millions (queued, failed,
//    cancelled), in id order (an index entry ends with the rowid). Processing and done jobs
//    are left out: the hot path (claim, success) then writes it once per job, not four
//    times; a listing of processing jobs reads jobs_leases, one of done jobs the table.
constexpr std::string_view schema_v5 = R"sql(
CREATE TABLE job_counts (
    queue TEXT    NOT NULL,
    type  TEXT    NOT NULL,
    state TEXT    NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (queue, type, state)
) WITHOUT ROWID;
INSERT INTO job_counts (queue, type, state, count) SELECT queue, type, state, COUNT(*) FROM jobs GROUP BY queue, type, state;
CREATE INDEX jobs_state ON jobs (state) WHERE state = 'queued' OR state = 'failed' OR state = 'cancelled';
)sql";

// v6: external jobs (core/lease_store.hpp).
//  - `external`: handed out only by a lease, never claimed by the built-in workers. Each
//    kind of job has its own claim order: the built-in workers' claim never passes over
//    an external backlog, nor a lease over a built-in one.
//  - `lease_token` (the current external lease's, NULL otherwise), `worker` (who holds
//    it, as the worker named itself), `result` (the JSON an ack stored).
constexpr std::string_view schema_v6 = R"sql(
ALTER TABLE jobs ADD COLUMN external INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN lease_token TEXT;
ALTER TABLE jobs ADD COLUMN worker TEXT;
ALTER TABLE jobs ADD COLUMN result TEXT;
DROP INDEX jobs_claim_order;
CREATE INDEX jobs_claim_order ON jobs (priority DESC, run_at, id) WHERE state = 'queued' AND due = 1 AND external = 0;
CREATE INDEX jobs_lease_order ON jobs (priority DESC, run_at, id) WHERE state = 'queued' AND due = 1 AND external = 1;
)sql";

// v7: schedules (core/schedule.hpp): a job template fired at each tick of a cron
// expression. `next_run_at` is the next tick to fire (NULL: never again); the fired jobs
// and the advance are written in one transaction.
constexpr std::string_view schema_v7 = R"sql(
CREATE TABLE schedules (
    name        TEXT PRIMARY KEY,
    cron        TEXT NOT NULL,
    timezone    TEXT NOT NULL,
    job_type    TEXT NOT NULL,
    payload     TEXT NOT NULL,
    queue       TEXT NOT NULL,
    priority    INTEGER NOT NULL,
    max_retries INTEGER NOT NULL,
    external    INTEGER NOT NULL,
    catch_up    TEXT NOT NULL CHECK (catch_up IN ('none', 'latest', 'all')),
    paused      INTEGER NOT NULL,
    anchor      INTEGER NOT NULL,
    next_run_at INTEGER,
    last_run_at INTEGER,
    last_job_id INTEGER,
    revision    INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
)sql";

// v8: queue settings (core/queue_settings.hpp), and claim orders per queue. A claim
// shares free workers among queues by their weights and limits, reading each queue's
// jobs in its own order (priority, run_at, id): the orders lead with the queue, in place
// of the v6 ones, so a job's insert and claim write no more index entries than before.
// A queue's rate_limit is both of its columns or neither; the CHECKs hold what the API
// accepts, so a row edited by hand cannot give the claims a zero rate or weight.
constexpr std::string_view schema_v8 = R"sql(
CREATE TABLE queues (
    name            TEXT PRIMARY KEY,
    paused          INTEGER NOT NULL CHECK (paused IN (0, 1)),
    concurrency     INTEGER CHECK (concurrency >= 1),
    rate_per_second REAL CHECK (rate_per_second > 0),
    rate_burst      INTEGER CHECK (rate_burst >= 1),
    weight          INTEGER NOT NULL CHECK (weight BETWEEN 1 AND 1000),
    CHECK ((rate_per_second IS NULL) = (rate_burst IS NULL))
) WITHOUT ROWID;
DROP INDEX jobs_claim_order;
DROP INDEX jobs_lease_order;
CREATE INDEX jobs_claim_order ON jobs (queue, priority DESC, run_at, id) WHERE state = 'queued' AND due = 1 AND external = 0;
CREATE INDEX jobs_lease_order ON jobs (queue, priority DESC, run_at, id) WHERE state = 'queued' AND due = 1 AND external = 1;
)sql";

// v9: when each recorded attempt started (NULL for attempts recorded before), for the
// attempt history's durations (GET /jobs/{id}/attempts).
constexpr std::string_view schema_v9 = R"sql(
ALTER TABLE job_attempts ADD COLUMN started_at INTEGER;
)sql";

// A new database is made as v4 and taken to the current version by the same steps as an
// existing one (on no rows, they cost nothing).
void create_v4(Database& db) {
    db.exec(jobs_v4);
    db.exec("ALTER TABLE jobs_v4 RENAME TO jobs");
    db.exec(jobs_v4_indexes);
    db.exec(job_attempts_table);
}

// Inside the migration's transaction, with foreign keys off: dropping the old table must
// not cascade into job_attempts, whose rows belong to the same ids in the new one.
void rebuild_jobs_v4(Database& db, std::int64_t now_ms) {
    db.exec(jobs_v4);
    Statement(db, copy_jobs_into_v4).bind(1, now_ms).run();
    // The highest id ever given, even if its row is gone: v3 kept no such mark, so the
    // highest id left is the best there is.
    db.exec(replace_jobs_with_v4);
    db.exec(jobs_v4_indexes);
    // The copy left the mark (renamed with the table) when there were rows; an empty table
    // gets one here, so the sequence always has exactly one row for jobs.
    const bool has_mark = Statement(db, "SELECT 1 FROM sqlite_sequence WHERE name = 'jobs'").step();
    if (!has_mark) db.exec("INSERT INTO sqlite_sequence (name, seq) VALUES ('jobs', 0)");
}

std::int64_t pragma_value(Database& db, std::string_view pragma) {
    auto s = db.cached(pragma);
    s->step();
    return s->column_int64(0);
}

// Inside the migration's transaction.
void rewrite_state_check(Database& db) {
    std::string sql;
    {
        Statement s(db, "SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = 'jobs'");
        if (!s.step()) throw core::StorageError("cannot upgrade the schema: no jobs table");
        sql = s.column_text(0);
    }
    if (sql.find(state_check_v3) != std::string::npos) return;
    const auto at = sql.find(state_check_v1);
    if (at == std::string::npos)
        throw core::StorageError("cannot upgrade the schema: the jobs table's definition is not one jobq wrote");
    sql.replace(at, state_check_v1.size(), state_check_v3);

    const auto version = pragma_value(db, "PRAGMA schema_version");
    db.exec("PRAGMA writable_schema=ON");
    try {
        Statement(db, "UPDATE sqlite_schema SET sql = ?1 WHERE type = 'table' AND name = 'jobs'").bind(1, sql).run();
        db.exec("PRAGMA schema_version=" + std::to_string(version + 1));  // the connection rereads the schema
    } catch (...) {
        db.exec("PRAGMA writable_schema=OFF");
        throw;
    }
    db.exec("PRAGMA writable_schema=OFF");
}

// The rebuild ran without foreign key enforcement: prove nothing points nowhere.
void check_foreign_keys(Database& db) {
    Statement s(db, "PRAGMA foreign_key_check");
    if (s.step()) throw core::StorageError("schema upgrade left attempt history without its job");
}

}  // namespace

void migrate(Database& db, std::int64_t now_ms) {
    const auto found = db.user_version();
    if (found > schema_version)
        throw core::StorageError("database schema version " + std::to_string(found) +
                                 " is newer than this jobq understands (" + std::to_string(schema_version) +
                                 "); upgrade jobq");
    if (found == schema_version) return;
    // An upgrade builds indexes over every job, in one transaction: on a large database it
    // takes a while, and the WAL grows by their size until the next checkpoint.
    if (found > 0)
        core::log::info("upgrading the database schema",
                        {{"from", std::to_string(found)}, {"to", std::to_string(schema_version)}});
    // PRAGMA foreign_keys is a no-op inside a transaction: it is set around it.
    db.exec("PRAGMA foreign_keys=OFF");
    try {
        Transaction tx(db);
        if (found < 1) {
            create_v4(db);
        } else {
            // Versions 1 to 4 were written by earlier jobq releases: upgraded step by step.
            if (found < 2) db.exec(schema_v2);
            if (found < 3) rewrite_state_check(db);
            if (found < 4) rebuild_jobs_v4(db, now_ms);
        }
        if (found < 5) db.exec(schema_v5);
        if (found < 6) db.exec(schema_v6);
        if (found < 7) db.exec(schema_v7);
        if (found < 8) db.exec(schema_v8);
        if (found < 9) db.exec(schema_v9);
        check_foreign_keys(db);
        db.set_user_version(schema_version);
        tx.commit();
    } catch (...) {
        db.exec("PRAGMA foreign_keys=ON");
        throw;
    }
    db.exec("PRAGMA foreign_keys=ON");
}

}  // namespace jobq::storage
