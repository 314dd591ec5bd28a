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
    db.set_user_version(schema_version);
    tx.commit();
}

}  // namespace jobq::storage
