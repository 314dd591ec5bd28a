// What is SQLite's own in SqliteJobStore: its DB thread, group commit and fsyncs, the
// schema and its migrations, query plans, WAL. The behaviour every store shares is the
// contract suite's (test/unit/store_contract), which runs on SQLite too.
#include "storage/sqlite/sqlite_job_store.hpp"

#include "storage/sqlite/schema.hpp"

#include "run_awaitable.hpp"
#include "temp_dir.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/test/unit_test.hpp>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <future>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

using namespace jobq;
using core::Job;
using core::JobSpec;
using core::Settlement;
using jobq::test::run_awaitable;
namespace asio = boost::asio;

namespace {

constexpr core::millis t0 = 1'800'000'000'000;
constexpr core::millis lease = 60'000;

JobSpec noop(core::millis run_at = t0, std::int64_t priority = 0) {
    JobSpec spec;
    spec.type = "noop";
    spec.payload = "{}";
    spec.run_at = run_at;
    spec.priority = priority;
    return spec;
}

std::vector<Job> claim(asio::io_context& io, storage::SqliteJobStore& store, std::size_t max, core::millis now) {
    return run_awaitable(io, store.claim({max, now, now + lease, {}, {}}));
}

struct StoreFixture {
    test::TempDir dir;
    asio::io_context io;  // outlives the store, whose DB thread posts results to it
    storage::SqliteJobStore store{{dir.file("jobs.db"), storage::Synchronous::full}};

    core::job_id enqueue(JobSpec spec) { return run_awaitable(io, store.enqueue(std::move(spec))).job.id; }
    std::vector<Job> claim(std::size_t n, core::millis now = t0) { return ::claim(io, store, n, now); }
    bool settle(Settlement s) { return run_awaitable(io, store.settle(std::move(s))).has_value(); }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(sqlite_job_store)

BOOST_FIXTURE_TEST_CASE(sqlite_runs_on_the_db_thread_only, StoreFixture) {
    const auto on = run_awaitable(io, store.on_db_thread<std::thread::id>([](storage::Database& db) {
        db.check_thread();
        return std::this_thread::get_id();
    }));
    BOOST_TEST((on == store.db_thread_id()));
    BOOST_TEST((on != std::this_thread::get_id()));
    // And a connection refuses a call from any other thread.
    storage::Database* db = nullptr;
    run_awaitable(io, store.on_db_thread<int>([&db](storage::Database& d) {
        db = &d;
        return 0;
    }));
    BOOST_CHECK_THROW(db->exec("SELECT 1"), core::StorageError);
}

BOOST_FIXTURE_TEST_CASE(group_commit_batches_concurrent_enqueues, StoreFixture) {
    constexpr int count = 1000;
    // A second connection, opened on this thread: it sees only committed rows.
    storage::Database reader(dir.file("jobs.db"), storage::Synchronous::full);
    int acknowledged = 0;
    int visible_when_acknowledged = 0;
    auto submit = [&](int i) -> asio::awaitable<void> {
        auto spec = noop();
        spec.idempotency_key = "k" + std::to_string(i);
        const auto result = co_await store.enqueue(std::move(spec));
        ++acknowledged;
        auto s = reader.cached("SELECT count(*) FROM jobs WHERE id = ?1");
        s->bind(1, result.job.id);
        s->step();
        visible_when_acknowledged += static_cast<int>(s->column_int64(0));
    };
    const auto before = store.commit_stats();
    for (int i = 0; i < count; ++i) asio::co_spawn(io, submit(i), asio::detached);
    io.restart();
    io.run_for(std::chrono::seconds(60));
    const auto after = store.commit_stats();

    BOOST_TEST(acknowledged == count);
    BOOST_TEST(visible_when_acknowledged == count);  // each ack came after its commit
    const auto transactions = after.transactions - before.transactions;
    BOOST_TEST_MESSAGE("1000 concurrent enqueues took " << transactions << " transactions, largest batch "
                                                        << after.largest_batch);
    BOOST_TEST(transactions <= 100u);
    BOOST_TEST(after.largest_batch >= 10u);
}

// Claims and outcomes are redoable (lost in a power failure, the job runs again): they
// commit without an fsync. An enqueue's commit, its acknowledgement, always waits for one,
// right after them too. The connection keeps the setting its last commit used.
BOOST_FIXTURE_TEST_CASE(only_acknowledged_writes_wait_for_fsync, StoreFixture) {
    constexpr std::int64_t full = 2;
    constexpr std::int64_t normal = 1;
    const auto last_commit_sync = [&] {
        return run_awaitable(io, store.on_db_thread<std::int64_t>([](storage::Database& db) {
            auto s = db.cached("PRAGMA synchronous");
            s->step();
            return s->column_int64(0);
        }));
    };
    const auto before = store.commit_stats();
    const auto id = enqueue(noop());
    BOOST_TEST(last_commit_sync() == full);
    BOOST_TEST_REQUIRE(claim(1).size() == 1u);
    BOOST_TEST(last_commit_sync() == normal);
    enqueue(noop());
    BOOST_TEST(last_commit_sync() == full);
    BOOST_TEST(settle({id, 1, Settlement::Kind::done, t0 + 10, 0, ""}));
    BOOST_TEST(last_commit_sync() == normal);
    const auto after = store.commit_stats();
    BOOST_TEST(after.without_fsync - before.without_fsync == 2u);
    BOOST_TEST(after.transactions - before.transactions == 4u);
}

BOOST_AUTO_TEST_CASE(newer_schema_is_refused) {
    test::TempDir dir;
    {
        asio::io_context io;  // outlives the store
        storage::SqliteJobStore store({dir.file("jobs.db"), storage::Synchronous::normal});
        run_awaitable(io, store.on_db_thread<int>([](storage::Database& db) {
            db.set_user_version(storage::schema_version + 1);
            return 0;
        }));
    }
    try {
        storage::SqliteJobStore store({dir.file("jobs.db"), storage::Synchronous::normal});
        BOOST_FAIL("a newer schema was opened");
    } catch (const core::StorageError& e) {
        BOOST_TEST(std::string(e.what()).find("newer") != std::string::npos);
    }
}

namespace {

std::string jobs_table_sql(storage::Database& db) {
    auto s = db.cached("SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = 'jobs'");
    s->step();
    return s->column_text(0);
}

void insert_with_state(storage::Database& db, std::string_view state) {
    db.cached("INSERT INTO jobs (type, queue, payload, state, max_retries, run_at, created_at) "
              "VALUES ('noop', 'default', '{}', ?1, 0, 0, 0)")
        ->bind(1, state)
        .run();
}

}  // namespace

// The rule on `state` is a chain of comparisons: an IN list in a CHECK constraint builds a
// temporary B-tree for every row written.
BOOST_FIXTURE_TEST_CASE(state_is_checked_without_an_in_list, StoreFixture) {
    const auto sql = run_awaitable(io, store.on_db_thread<std::string>(jobs_table_sql));
    BOOST_TEST(sql.find("state IN") == std::string::npos);
    BOOST_TEST(sql.find("state = 'queued' OR state = 'processing'") != std::string::npos);
    const auto refused = run_awaitable(io, store.on_db_thread<bool>([](storage::Database& db) {
        try {
            insert_with_state(db, "lost");
            return false;
        } catch (const core::StorageError&) {
            return true;
        }
    }));
    BOOST_TEST(refused);
}

BOOST_AUTO_TEST_CASE(a_version_2_database_is_upgraded_in_place) {
    test::TempDir dir;
    core::job_id id = 0;
    {
        asio::io_context io;  // outlives the store
        storage::SqliteJobStore store({dir.file("jobs.db"), storage::Synchronous::normal});
        id = run_awaitable(io, store.enqueue(noop())).job.id;
        // Back to what version 2 wrote: the IN list.
        run_awaitable(io, store.on_db_thread<int>([](storage::Database& db) {
            auto sql = jobs_table_sql(db);
            const std::string v3 =
                "CHECK (state = 'queued' OR state = 'processing' OR state = 'done' OR state = 'failed' OR state = "
                "'cancelled')";
            sql.replace(sql.find(v3), v3.size(), "CHECK (state IN ('queued', 'processing', 'done', 'failed', 'cancelled'))");
            storage::Transaction tx(db);
            auto version = db.cached("PRAGMA schema_version");
            version->step();
            const auto schema_version = version->column_int64(0);
            version->reset();
            db.exec("PRAGMA writable_schema=ON");
            db.cached("UPDATE sqlite_schema SET sql = ?1 WHERE name = 'jobs'")->bind(1, sql).run();
            db.exec("PRAGMA schema_version=" + std::to_string(schema_version + 1));
            db.exec("PRAGMA writable_schema=OFF");
            db.exec("DROP TABLE job_counts");  // came with version 5
            db.exec("DROP TABLE schedules");   // came with version 7
            db.exec("DROP TABLE queues");      // came with version 8
            db.exec("ALTER TABLE job_attempts DROP COLUMN started_at");  // came with version 9
            db.set_user_version(2);
            tx.commit();
            return 0;
        }));
        BOOST_TEST_REQUIRE(run_awaitable(io, store.on_db_thread<std::string>(jobs_table_sql)).find("state IN") !=
                           std::string::npos);
    }
    asio::io_context io;
    storage::SqliteJobStore store({dir.file("jobs.db"), storage::Synchronous::normal});
    BOOST_TEST(run_awaitable(io, store.on_db_thread<std::int64_t>([](storage::Database& db) {
                   return db.user_version();
               })) == storage::schema_version);
    const auto sql = run_awaitable(io, store.on_db_thread<std::string>(jobs_table_sql));
    BOOST_TEST(sql.find("state IN") == std::string::npos);
    BOOST_TEST(run_awaitable(io, store.get(id)).has_value());  // the rows are untouched
    BOOST_TEST(run_awaitable(io, store.on_db_thread<std::string>([](storage::Database& db) {
                   auto s = db.cached("PRAGMA integrity_check");
                   s->step();
                   return s->column_text(0);
               })) == "ok");
}

namespace {

std::int64_t history_rows(asio::io_context& io, storage::SqliteJobStore& store, core::job_id id) {
    return run_awaitable(io, store.on_db_thread<std::int64_t>([id](storage::Database& db) {
        auto s = db.cached("SELECT COUNT(*) FROM job_attempts WHERE job_id = ?1");
        s->bind(1, id);
        s->step();
        return s->column_int64(0);
    }));
}

}  // namespace

// Regression: the claim ran two queries per distinct priority level, and next_run_at one
// per level: with a thousand levels a claim cost thousands of statements. (That the claim
// takes them in order: job_store_contract/claim_orders_across_a_thousand_priority_levels.)
BOOST_FIXTURE_TEST_CASE(claim_cost_does_not_grow_with_priority_levels, StoreFixture) {
    for (int level = 0; level < 1000; ++level) enqueue(noop(t0, level * 1000 - 500'000));
    for (int level = 0; level < 1000; ++level) enqueue(noop(t0 + 10'000, level));  // not yet due
    const auto plan = run_awaitable(io, store.on_db_thread<std::string>([](storage::Database& db) {
        std::string text;
        for (const auto* sql : {"EXPLAIN QUERY PLAN SELECT id FROM jobs INDEXED BY jobs_claim_order WHERE state = 'queued' "
                                "AND due = 1 AND external = 0 AND queue = ?2 ORDER BY priority DESC, run_at, id LIMIT 10",
                                "EXPLAIN QUERY PLAN SELECT MIN(run_at) FROM jobs INDEXED BY jobs_waiting "
                                "WHERE state = 'queued' AND due = 0"}) {
            auto s = db.cached(sql);
            while (s->step()) text += s->column_text(3) + "\n";
        }
        return text;
    }));
    BOOST_TEST(plan.find("SEARCH jobs USING INDEX jobs_claim_order (queue=?)") != std::string::npos, plan);
    BOOST_TEST(plan.find("USE TEMP B-TREE") == std::string::npos, plan);  // the index gives the order
    BOOST_TEST(plan.find("SEARCH jobs USING INDEX jobs_waiting") != std::string::npos, plan);
}

// Regression: SQLite answers PRAGMA journal_mode=WAL with the mode it chose; an in-memory
// database stays in "memory" mode, and group commit's durability rests on WAL.
BOOST_AUTO_TEST_CASE(a_database_that_cannot_use_wal_is_refused) {
    try {
        storage::SqliteJobStore store({":memory:", storage::Synchronous::full});
        BOOST_FAIL("an in-memory database was opened");
    } catch (const core::StorageError& e) {
        BOOST_TEST(std::string(e.what()).find("WAL") != std::string::npos, e.what());
    }
}

BOOST_AUTO_TEST_CASE(a_version_3_database_is_rebuilt_with_ids_that_never_repeat) {
    test::TempDir dir;
    {
        storage::Database db(dir.file("jobs.db"), storage::Synchronous::normal);
        db.exec(R"sql(
CREATE TABLE jobs (
    id INTEGER PRIMARY KEY, type TEXT NOT NULL, queue TEXT NOT NULL, priority INTEGER NOT NULL DEFAULT 0,
    payload TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state = 'queued' OR state = 'processing' OR state = 'done' OR state = 'failed' OR state = 'cancelled'),
    attempts INTEGER NOT NULL DEFAULT 0, max_retries INTEGER NOT NULL, run_at INTEGER NOT NULL,
    lease_expires_at INTEGER, idempotency_key TEXT, last_error TEXT, created_at INTEGER NOT NULL,
    started_at INTEGER, finished_at INTEGER);
CREATE UNIQUE INDEX jobs_idempotency_key ON jobs (idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX jobs_claim_order ON jobs (priority DESC, run_at, id) WHERE state = 'queued';
CREATE INDEX jobs_leases ON jobs (lease_expires_at) WHERE state = 'processing';
CREATE TABLE job_attempts (job_id INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE, attempt INTEGER NOT NULL,
    finished_at INTEGER NOT NULL, outcome TEXT NOT NULL, error TEXT NOT NULL, PRIMARY KEY (job_id, attempt)) WITHOUT ROWID;
CREATE INDEX jobs_finished ON jobs (state, finished_at) WHERE finished_at IS NOT NULL;
-- job 7: retried by an operator after two failed attempts (its attempts restarted at 0);
-- job 8: waits for its run_at, far ahead.
INSERT INTO jobs (id, type, queue, payload, state, attempts, max_retries, run_at, created_at)
    VALUES (7, 'noop', 'default', '{}', 'queued', 0, 1, 0, 0),
           (8, 'noop', 'default', '{}', 'queued', 0, 3, 9000000000000, 0);
INSERT INTO job_attempts VALUES (7, 1, 0, 'retryable', 'a'), (7, 2, 0, 'failed', 'b');
PRAGMA user_version = 3;
)sql");
    }
    asio::io_context io;
    storage::SqliteJobStore store({dir.file("jobs.db"), storage::Synchronous::normal});
    const auto retried = run_awaitable(io, store.get(7)).value();
    BOOST_TEST(retried.attempts == 2);
    BOOST_TEST(retried.attempt_base == 2);
    BOOST_TEST(history_rows(io, store, 7) == 2);
    BOOST_TEST(run_awaitable(io, store.next_run_at()).value() == 9'000'000'000'000);
    // Version 5 counted the jobs once, as it added the kept counts.
    const auto counts = store.counts();
    BOOST_TEST_REQUIRE(counts.size() == 1u);
    BOOST_TEST((counts[0].state == core::JobState::queued));
    BOOST_TEST(counts[0].count == 2);
    const auto now = core::system_now_ms();
    const auto claimed = claim(io, store, 10, now);
    BOOST_TEST_REQUIRE(claimed.size() == 1u);
    BOOST_TEST(claimed[0].id == 7);
    BOOST_TEST(claimed[0].attempts == 3);
    BOOST_TEST((run_awaitable(io, store.remove(8)).outcome == core::JobChange::Outcome::changed));
    BOOST_TEST(run_awaitable(io, store.enqueue(noop())).job.id == 9);
    // One high-water mark for jobs, not a second one at 0 beside it.
    BOOST_TEST(run_awaitable(io, store.on_db_thread<std::int64_t>([](storage::Database& db) {
                   auto s = db.cached("SELECT COUNT(*) FROM sqlite_sequence WHERE name = 'jobs'");
                   s->step();
                   return s->column_int64(0);
               })) == 1);
    BOOST_TEST(run_awaitable(io, store.on_db_thread<std::string>([](storage::Database& db) {
                   auto s = db.cached("PRAGMA integrity_check");
                   s->step();
                   return s->column_text(0);
               })) == "ok");
}

BOOST_AUTO_TEST_SUITE_END()

// The operator's side (core::JobAdmin).
BOOST_AUTO_TEST_SUITE(sqlite_job_admin)

// (That its results come in order: job_admin_contract/a_batch_is_stored_in_order.)
BOOST_FIXTURE_TEST_CASE(a_batch_is_stored_in_one_transaction, StoreFixture) {
    const auto before = store.commit_stats().transactions;
    auto keyed = noop();
    keyed.idempotency_key = "k";
    const auto results = run_awaitable(io, store.enqueue_batch({noop(), keyed, noop(), keyed}));
    BOOST_TEST_REQUIRE(results.size() == 4u);
    BOOST_TEST(store.commit_stats().transactions == before + 1);
}

// Every read an operator makes runs on a read-only connection: none waits for the writer,
// here held inside an operation on the DB thread until the reads have answered. (The
// engine's next wake-ups stay on the writer's thread: they must not queue behind a listing.)
BOOST_FIXTURE_TEST_CASE(reads_answer_while_the_writer_is_busy, StoreFixture) {
    const auto id = enqueue(noop());
    std::promise<void> reads_done;
    std::shared_future<void> released = reads_done.get_future().share();
    auto busy = std::make_shared<std::atomic<bool>>(false);
    // A deadline of its own: a read that waited for the writer fails this test, not hangs it.
    asio::co_spawn(io,
                   store.on_db_thread<int>([released, busy](storage::Database&) {
                       busy->store(true);
                       released.wait_for(std::chrono::seconds(10));
                       busy->store(false);
                       return 0;
                   }),
                   asio::detached);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    io.restart();
    while (!busy->load() && std::chrono::steady_clock::now() < deadline) io.run_one_for(std::chrono::milliseconds(10));
    BOOST_TEST_REQUIRE(busy->load());

    const auto started = std::chrono::steady_clock::now();
    const auto within = std::chrono::seconds(5);
    BOOST_TEST(test::run_until_done(io, store.get(id), within).has_value());
    BOOST_TEST(test::run_until_done(io, store.list({core::JobState::queued, {}, {}}, std::nullopt, 10), within)
                   .jobs.size() == 1u);
    BOOST_TEST(test::run_until_done(io, store.oldest_runnable(t0 + 1), within).value() == t0);
    BOOST_TEST(store.counts().size() == 1u);
    BOOST_TEST((std::chrono::steady_clock::now() - started < within));
    BOOST_TEST(busy->load());  // the writer is held still
    reads_done.set_value();
    enqueue(noop());  // the writer goes on
}

// A listing by state reads only the jobs of that state, in id order, except done jobs,
// which are most of the table: it reads the table in id order.
BOOST_FIXTURE_TEST_CASE(a_listing_by_state_reads_an_index, StoreFixture) {
    const auto plan = run_awaitable(io, store.on_db_thread<std::string>([](storage::Database& db) {
        std::string text;
        for (const auto* sql : {"EXPLAIN QUERY PLAN SELECT * FROM jobs INDEXED BY jobs_state "
                                "WHERE id > ?1 AND state = 'failed' AND queue = ?4 ORDER BY id LIMIT ?5",
                                "EXPLAIN QUERY PLAN SELECT * FROM jobs INDEXED BY jobs_state "
                                "WHERE id > ?1 AND state = 'queued' ORDER BY id LIMIT ?5",
                                "EXPLAIN QUERY PLAN SELECT * FROM jobs NOT INDEXED "
                                "WHERE id > ?1 AND state = 'done' AND type = ?3 ORDER BY id LIMIT ?5"}) {
            auto s = db.cached(sql);
            while (s->step()) text += s->column_text(3) + "\n";
        }
        return text;
    }));
    BOOST_TEST(plan.find("USING INDEX jobs_state (state=? AND rowid>?)") != std::string::npos, plan);
    BOOST_TEST(plan.find("SEARCH jobs USING INTEGER PRIMARY KEY (rowid>?)") != std::string::npos, plan);
    BOOST_TEST(plan.find("TEMP B-TREE") == std::string::npos, plan);
}

// Every kind of listing the API can ask for is one the store can plan (INDEXED BY fails
// at prepare time when its index cannot serve the query), and finds what it should: a
// job in every state, so that no listing is answered by the kept counts alone.
BOOST_FIXTURE_TEST_CASE(every_filter_combination_lists, StoreFixture) {
    using core::JobState;
    const core::millis past = core::system_now_ms() - 1000;
    std::map<JobState, core::job_id> ids;
    for (int i = 0; i < 4; ++i) enqueue(noop(past));
    const auto claimed = claim(4, core::system_now_ms());
    BOOST_TEST_REQUIRE(claimed.size() == 4u);
    ids[JobState::processing] = claimed[0].id;
    ids[JobState::done] = claimed[1].id;
    BOOST_TEST(settle({claimed[1].id, 1, Settlement::Kind::done, past, 0, ""}));
    ids[JobState::failed] = claimed[2].id;
    BOOST_TEST(settle({claimed[2].id, 1, Settlement::Kind::failed, past, 0, "no"}));
    ids[JobState::cancelled] = claimed[3].id;
    BOOST_TEST(settle({claimed[3].id, 1, Settlement::Kind::released, past, 0, ""}));
    BOOST_TEST((run_awaitable(io, store.cancel(claimed[3].id, past)).outcome == core::JobChange::Outcome::changed));
    ids[JobState::queued] = enqueue(noop(past));
    for (const auto& [state, id] : ids)
        for (const auto& type : {std::optional<std::string>(), std::optional<std::string>("noop")})
            for (const auto& queue : {std::optional<std::string>(), std::optional<std::string>("default")}) {
                const auto page = run_awaitable(io, store.list({state, type, queue}, std::nullopt, 10));
                BOOST_TEST_REQUIRE(page.jobs.size() == 1u, core::to_string(state));
                BOOST_TEST(page.jobs[0].id == id);
                BOOST_TEST(run_awaitable(io, store.list({state, "other", queue}, std::nullopt, 10)).jobs.empty());
            }
    BOOST_TEST(run_awaitable(io, store.list({}, std::nullopt, 10)).jobs.size() == 5u);
}

// The oldest runnable job, due or still waiting to be marked due, across priority levels
// (the oldest of all is at neither the highest nor the lowest level).
BOOST_FIXTURE_TEST_CASE(the_oldest_runnable_job_is_found_across_priority_levels, StoreFixture) {
    const core::millis past = core::system_now_ms() - 1'000'000;  // stored due
    for (int level = 0; level < 100; ++level) enqueue(noop(past + std::abs(level - 50) * 10, level * 1000 - 50'000));
    BOOST_TEST(run_awaitable(io, store.oldest_runnable(past + 1'000'000)).value() == past);
    enqueue(noop(t0));  // waiting, and runnable by t0 + 1'000'000'000
    BOOST_TEST(run_awaitable(io, store.oldest_runnable(t0 + 1'000'000'000)).value() == past);
    const auto plan = run_awaitable(io, store.on_db_thread<std::string>([](storage::Database& db) {
        auto s = db.cached("EXPLAIN QUERY PLAN SELECT MIN(run_at) FROM jobs INDEXED BY jobs_claim_order "
                           "WHERE state = 'queued' AND due = 1 AND external = 0 AND queue = ?1 AND priority = ?2");
        std::string text;
        while (s->step()) text += s->column_text(3) + "\n";
        return text;
    }));
    BOOST_TEST(plan.find("SEARCH jobs USING INDEX jobs_claim_order (queue=? AND priority=?)") != std::string::npos, plan);
}

BOOST_FIXTURE_TEST_CASE(retention_seeks_an_index_and_never_scans_the_table, StoreFixture) {
    const auto plan = run_awaitable(io, store.on_db_thread<std::string>([](storage::Database& db) {
        auto s = db.cached(
            "EXPLAIN QUERY PLAN SELECT id FROM jobs WHERE state = 'done' AND finished_at < 5 LIMIT 500");
        std::string text;
        while (s->step()) text += s->column_text(3) + "\n";
        return text;
    }));
    BOOST_TEST(plan.find("USING COVERING INDEX jobs_finished (state=? AND finished_at<?)") != std::string::npos, plan);
}

BOOST_AUTO_TEST_SUITE_END()
