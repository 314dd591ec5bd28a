#include "storage/schema.hpp"

#include <string>

namespace jobq::storage {
namespace {

// Times are integer milliseconds since the Unix epoch.
constexpr std::string_view schema_v1 = R"sql(
CREATE TABLE jobs (
    id               INTEGER PRIMARY KEY,
    type             TEXT    NOT NULL,
    queue            TEXT    NOT NULL,
    priority         INTEGER NOT NULL DEFAULT 0,
    payload          TEXT    NOT NULL,
    state            TEXT    NOT NULL
        CHECK (state IN ('queued', 'processing', 'done', 'failed', 'cancelled')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    max_retries      INTEGER NOT NULL,
    run_at           INTEGER NOT NULL,
    lease_expires_at INTEGER,
    idempotency_key  TEXT,
    last_error       TEXT,
    created_at       INTEGER NOT NULL,
    started_at       INTEGER,
    finished_at      INTEGER
);
-- Partial: most jobs have no key, and a plain UNIQUE column indexes every NULL too.
CREATE UNIQUE INDEX jobs_idempotency_key ON jobs (idempotency_key) WHERE idempotency_key IS NOT NULL;
-- The claim order, over runnable rows only. It also answers the dispatcher's "earliest
-- run_at" (the first entry of each priority level), so no second index on run_at is kept
-- up to date on every insert and claim.
CREATE INDEX jobs_claim_order ON jobs (priority DESC, run_at, id) WHERE state = 'queued';
-- The reaper's timer and sweep.
CREATE INDEX jobs_leases ON jobs (lease_expires_at) WHERE state = 'processing';

-- Every failed attempt, for operators asking why a job is where it is.
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

}  // namespace

void migrate(Database& db) {
    const auto found = db.user_version();
    if (found > schema_version)
        throw core::StorageError("database schema version " + std::to_string(found) +
                                 " is newer than this jobq understands (" + std::to_string(schema_version) +
                                 "); upgrade jobq");
    if (found == schema_version) return;
    Transaction tx(db);
    if (found < 1) db.exec(schema_v1);
    if (found < 2) db.exec(schema_v2);
    if (found < 3) rewrite_state_check(db);
    db.set_user_version(schema_version);
    tx.commit();
}

}  // namespace jobq::storage
