#include "storage/sqlite_job_store.hpp"
#include "storage/schema.hpp"

#include "run_awaitable.hpp"
#include "temp_dir.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/test/unit_test.hpp>

#include <set>

using namespace jobq;
using core::Job;
using core::JobSpec;
using core::JobState;
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

struct StoreFixture {
    test::TempDir dir;
    asio::io_context io;  // outlives the store, whose DB thread posts results to it
    storage::SqliteJobStore store{{dir.file("jobs.db"), storage::Synchronous::full}};

    core::job_id enqueue(JobSpec spec) { return run_awaitable(io, store.enqueue(std::move(spec))).job.id; }
    Job get(core::job_id id) { return run_awaitable(io, store.get(id)).value(); }
    std::vector<Job> claim(std::size_t n, core::millis now = t0) {
        return run_awaitable(io, store.claim(n, now, now + lease));
    }
    bool settle(Settlement s) { return run_awaitable(io, store.settle(std::move(s))); }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(sqlite_job_store)

BOOST_FIXTURE_TEST_CASE(enqueued_job_reads_back_queued, StoreFixture) {
    auto spec = noop(t0 + 5);
    spec.queue = "mail";
    spec.max_retries = 7;
    spec.payload = R"({"a":1})";
    const auto id = enqueue(spec);
    const Job job = get(id);
    BOOST_TEST(job.state == JobState::queued);
    BOOST_TEST(job.queue == "mail");
    BOOST_TEST(job.max_retries == 7);
    BOOST_TEST(job.payload == R"({"a":1})");
    BOOST_TEST(job.run_at == t0 + 5);
    BOOST_TEST(job.attempts == 0);
    BOOST_TEST(!run_awaitable(io, store.get(id + 100)).has_value());
}

BOOST_FIXTURE_TEST_CASE(idempotency_key_answers_the_existing_job, StoreFixture) {
    auto spec = noop();
    spec.idempotency_key = "order-17";
    const auto first = run_awaitable(io, store.enqueue(spec));
    const auto second = run_awaitable(io, store.enqueue(spec));
    BOOST_TEST(first.created);
    BOOST_TEST(!second.created);
    BOOST_TEST(second.job.id == first.job.id);
    BOOST_TEST(enqueue(noop()) == first.job.id + 1);  // no id was consumed by the repeat
}

BOOST_FIXTURE_TEST_CASE(claim_orders_by_priority_then_run_at_and_skips_future_jobs, StoreFixture) {
    const auto late = enqueue(noop(t0 - 1));
    const auto early = enqueue(noop(t0 - 2));
    const auto urgent = enqueue(noop(t0, 5));
    enqueue(noop(t0 + 1'000));  // not runnable yet
    const auto jobs = claim(10);
    BOOST_TEST_REQUIRE(jobs.size() == 3u);
    BOOST_TEST(jobs[0].id == urgent);
    BOOST_TEST(jobs[1].id == early);
    BOOST_TEST(jobs[2].id == late);
    for (const auto& job : jobs) {
        BOOST_TEST(job.state == JobState::processing);
        BOOST_TEST(job.attempts == 1);
        BOOST_TEST(job.lease_expires_at.value() == t0 + lease);
    }
    BOOST_TEST(run_awaitable(io, store.next_run_at()).value() == t0 + 1'000);
    BOOST_TEST(run_awaitable(io, store.next_lease_expiry()).value() == t0 + lease);
}

BOOST_FIXTURE_TEST_CASE(claim_walks_priority_levels_past_jobs_not_yet_due, StoreFixture) {
    enqueue(noop(t0 + 1'000, 9));  // the highest level holds only a future job
    const auto low_late = enqueue(noop(t0 - 1, -2));
    const auto mid = enqueue(noop(t0, 3));
    const auto low_early = enqueue(noop(t0 - 5, -2));
    enqueue(noop(t0 + 1'000, 3));
    const auto jobs = claim(2);
    BOOST_TEST_REQUIRE(jobs.size() == 2u);
    BOOST_TEST(jobs[0].id == mid);
    BOOST_TEST(jobs[1].id == low_early);  // the batch ends inside a level, in run_at order
    const auto rest = claim(10);
    BOOST_TEST_REQUIRE(rest.size() == 1u);
    BOOST_TEST(rest[0].id == low_late);
}

BOOST_FIXTURE_TEST_CASE(next_run_at_is_the_earliest_across_priority_levels, StoreFixture) {
    BOOST_TEST(!run_awaitable(io, store.next_run_at()).has_value());
    enqueue(noop(t0 + 5'000, 9));
    enqueue(noop(t0 + 3'000, 0));  // a lower level holds the earliest
    enqueue(noop(t0 + 4'000, -7));
    BOOST_TEST(run_awaitable(io, store.next_run_at()).value() == t0 + 3'000);
}

BOOST_FIXTURE_TEST_CASE(jobs_without_an_idempotency_key_never_conflict, StoreFixture) {
    const auto a = run_awaitable(io, store.enqueue(noop()));
    const auto b = run_awaitable(io, store.enqueue(noop()));
    BOOST_TEST(a.created);
    BOOST_TEST(b.created);
    BOOST_TEST(a.job.id != b.job.id);
}

BOOST_FIXTURE_TEST_CASE(claim_takes_at_most_the_batch_size, StoreFixture) {
    for (int i = 0; i < 10; ++i) enqueue(noop());
    BOOST_TEST(claim(4).size() == 4u);
    BOOST_TEST(claim(100).size() == 6u);
    BOOST_TEST(claim(100).empty());
}

BOOST_FIXTURE_TEST_CASE(processing_to_done, StoreFixture) {
    const auto id = enqueue(noop());
    claim(1);
    BOOST_TEST(settle({id, 1, Settlement::Kind::done, t0 + 10, 0, ""}));
    const Job job = get(id);
    BOOST_TEST(job.state == JobState::done);
    BOOST_TEST(job.finished_at.value() == t0 + 10);
    BOOST_TEST(!job.lease_expires_at.has_value());
}

BOOST_FIXTURE_TEST_CASE(processing_to_queued_on_retry_records_the_error, StoreFixture) {
    const auto id = enqueue(noop());
    claim(1);
    BOOST_TEST(settle({id, 1, Settlement::Kind::retry, t0 + 10, t0 + 5'000, "smtp 451"}));
    Job job = get(id);
    BOOST_TEST(job.state == JobState::queued);
    BOOST_TEST(job.run_at == t0 + 5'000);
    BOOST_TEST(job.last_error.value() == "smtp 451");
    BOOST_TEST(claim(1, t0 + 4'999).empty());  // backoff respected
    BOOST_TEST(claim(1, t0 + 5'000).size() == 1u);
    BOOST_TEST(get(id).attempts == 2);
}

BOOST_FIXTURE_TEST_CASE(processing_to_failed, StoreFixture) {
    const auto id = enqueue(noop());
    claim(1);
    BOOST_TEST(settle({id, 1, Settlement::Kind::failed, t0 + 10, 0, "550 no such user"}));
    const Job job = get(id);
    BOOST_TEST(job.state == JobState::failed);
    BOOST_TEST(job.last_error.value() == "550 no such user");
    BOOST_TEST(job.finished_at.value() == t0 + 10);
}

BOOST_FIXTURE_TEST_CASE(released_job_is_queued_without_counting_the_attempt, StoreFixture) {
    const auto id = enqueue(noop());
    claim(1);
    BOOST_TEST(settle({id, 1, Settlement::Kind::released, t0 + 10, 0, ""}));
    const Job job = get(id);
    BOOST_TEST(job.state == JobState::queued);
    BOOST_TEST(job.attempts == 0);
    BOOST_TEST(job.run_at == t0 + 10);
}

BOOST_FIXTURE_TEST_CASE(fencing_refuses_a_stale_attempt, StoreFixture) {
    const auto id = enqueue(noop());
    claim(1);  // attempt 1, whose lease will expire
    const auto reaped = run_awaitable(io, store.reap_expired(t0 + lease));
    BOOST_TEST(reaped.requeued == 1u);
    BOOST_TEST(claim(1, t0 + lease).size() == 1u);  // attempt 2
    BOOST_TEST(!settle({id, 1, Settlement::Kind::done, t0 + lease + 1, 0, ""}));
    BOOST_TEST(get(id).state == JobState::processing);
    BOOST_TEST(settle({id, 2, Settlement::Kind::done, t0 + lease + 2, 0, ""}));
    BOOST_TEST(get(id).state == JobState::done);
    BOOST_TEST(!settle({id, 2, Settlement::Kind::failed, t0 + lease + 3, 0, "late"}));  // done is final
    BOOST_TEST(get(id).state == JobState::done);
}

BOOST_FIXTURE_TEST_CASE(settle_all_records_a_batch_in_one_transaction_and_fences_each, StoreFixture) {
    const auto a = enqueue(noop());
    const auto b = enqueue(noop());
    const auto c = enqueue(noop());
    claim(3);
    const auto recorded = run_awaitable(io, store.settle_all({{a, 1, Settlement::Kind::done, t0 + 1, 0, ""},
                                                              {b, 7, Settlement::Kind::done, t0 + 1, 0, ""},  // stale
                                                              {c, 1, Settlement::Kind::retry, t0 + 1, t0 + 9, "again"}}));
    BOOST_TEST((recorded == std::vector<bool>{true, false, true}));
    BOOST_TEST(get(a).state == JobState::done);
    BOOST_TEST(get(b).state == JobState::processing);
    BOOST_TEST(get(c).state == JobState::queued);
    BOOST_TEST(get(c).last_error.value() == "again");
}

BOOST_FIXTURE_TEST_CASE(reaper_dead_letters_a_job_out_of_attempts, StoreFixture) {
    auto spec = noop();
    spec.max_retries = 0;
    const auto id = enqueue(spec);
    claim(1);
    BOOST_TEST(run_awaitable(io, store.reap_expired(t0 + lease - 1)).requeued == 0u);  // not expired yet
    const auto report = run_awaitable(io, store.reap_expired(t0 + lease));
    BOOST_TEST(report.dead_lettered == 1u);
    BOOST_TEST(get(id).state == JobState::failed);
    BOOST_TEST(get(id).last_error.value() == "lease expired");
}

BOOST_FIXTURE_TEST_CASE(recovery_requeues_every_processing_row, StoreFixture) {
    const auto a = enqueue(noop());
    auto last_chance = noop();
    last_chance.max_retries = 0;
    const auto b = enqueue(last_chance);
    const auto c = enqueue(noop());
    claim(3);
    BOOST_TEST(settle({c, 1, Settlement::Kind::done, t0, 0, ""}));
    // Leases far in the future: recovery must not wait for them.
    const auto report = run_awaitable(io, store.recover(t0 + 1));
    BOOST_TEST(report.requeued == 1u);
    BOOST_TEST(report.dead_lettered == 1u);
    BOOST_TEST(get(a).state == JobState::queued);
    BOOST_TEST(get(a).run_at == t0 + 1);
    BOOST_TEST(get(b).state == JobState::failed);
    BOOST_TEST(get(c).state == JobState::done);
}

BOOST_FIXTURE_TEST_CASE(queued_to_cancelled_is_not_claimed, StoreFixture) {
    // Cancellation arrives with the REST API; the claim must already skip the state.
    const auto id = enqueue(noop());
    run_awaitable(io, store.on_db_thread<int>([id](storage::Database& db) {
        db.exec("UPDATE jobs SET state = 'cancelled' WHERE id = " + std::to_string(id));
        return 0;
    }));
    BOOST_TEST(claim(10).empty());
    BOOST_TEST(get(id).state == JobState::cancelled);
}

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

BOOST_FIXTURE_TEST_CASE(failed_commit_fails_every_waiter_and_stores_nothing, StoreFixture) {
    enqueue(noop());
    // Cap the file at its current size: the next inserts cannot fit (SQLITE_FULL).
    run_awaitable(io, store.on_db_thread<int>([](storage::Database& db) {
        db.exec("PRAGMA max_page_count = 1");  // clamps to the current page count
        return 0;
    }));
    const std::string big_payload = "\"" + std::string(20'000, 'x') + "\"";
    int failed = 0, succeeded = 0;
    auto submit = [&]() -> asio::awaitable<void> {
        auto spec = noop();
        spec.payload = big_payload;
        try {
            co_await store.enqueue(std::move(spec));
            ++succeeded;
        } catch (const core::StorageError&) {
            ++failed;
        }
    };
    for (int i = 0; i < 20; ++i) asio::co_spawn(io, submit(), asio::detached);
    io.restart();
    io.run_for(std::chrono::seconds(30));
    BOOST_TEST(failed == 20);
    BOOST_TEST(succeeded == 0);
    const auto stored = run_awaitable(io, store.on_db_thread<std::int64_t>([](storage::Database& db) {
        auto s = db.cached("SELECT count(*) FROM jobs");
        s->step();
        return s->column_int64(0);
    }));
    BOOST_TEST(stored == 1);

    // When space returns, writes resume without a restart.
    run_awaitable(io, store.on_db_thread<int>([](storage::Database& db) {
        db.exec("PRAGMA max_page_count = 1073741823");
        return 0;
    }));
    auto spec = noop();
    spec.payload = big_payload;
    BOOST_TEST(enqueue(spec) > 0);
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

// Regression: SQLite reused the highest id once its row was gone, so after a DELETE (or a
// retention sweep, or everything deleted and a restart) a new job took an old job's id,
// and a webhook receiver deduplicating on X-Jobq-Job-Id dropped it.
BOOST_AUTO_TEST_CASE(ids_are_never_reused_across_deletes_and_restarts) {
    test::TempDir dir;
    core::job_id last = 0;
    {
        asio::io_context io;
        storage::SqliteJobStore store({dir.file("jobs.db"), storage::Synchronous::normal});
        std::vector<core::job_id> ids;
        for (int i = 0; i < 3; ++i) ids.push_back(run_awaitable(io, store.enqueue(noop())).job.id);
        BOOST_TEST_REQUIRE((run_awaitable(io, store.remove(ids.back())).outcome == core::JobChange::Outcome::changed));
        last = run_awaitable(io, store.enqueue(noop())).job.id;
        BOOST_TEST(last > ids.back());
        for (const auto id : {ids[0], ids[1], last})
            BOOST_TEST_REQUIRE((run_awaitable(io, store.remove(id)).outcome == core::JobChange::Outcome::changed));
    }
    asio::io_context io;
    storage::SqliteJobStore store({dir.file("jobs.db"), storage::Synchronous::normal});
    BOOST_TEST(run_awaitable(io, store.enqueue(noop())).job.id > last);
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

// Regression: an operator retry reset `attempts` to 0, so the next attempts took numbers
// the history already had and INSERT OR REPLACE overwrote their records (and a worker of
// the old attempt with the same number would have passed the fence).
BOOST_FIXTURE_TEST_CASE(an_operator_retry_keeps_every_attempt_and_its_record, StoreFixture) {
    auto spec = noop();
    spec.max_retries = 1;
    const auto id = enqueue(spec);
    BOOST_TEST_REQUIRE(claim(1).size() == 1u);
    BOOST_TEST_REQUIRE(settle({id, 1, Settlement::Kind::retry, t0, t0, "first"}));
    BOOST_TEST_REQUIRE(claim(1).size() == 1u);
    BOOST_TEST_REQUIRE(settle({id, 2, Settlement::Kind::failed, t0, 0, "second"}));
    BOOST_TEST_REQUIRE(history_rows(io, store, id) == 2);

    const auto change = run_awaitable(io, store.retry(id, t0));
    BOOST_TEST_REQUIRE((change.outcome == core::JobChange::Outcome::changed));
    BOOST_TEST(change.job->attempts == 2);
    BOOST_TEST(change.job->attempt_base == 2);
    BOOST_TEST(!change.job->out_of_attempts());

    const auto again = claim(1);
    BOOST_TEST_REQUIRE(again.size() == 1u);
    BOOST_TEST(again[0].attempts == 3);
    BOOST_TEST(!again[0].out_of_attempts());  // a fresh budget: max_retries more runs
    BOOST_TEST(!settle({id, 1, Settlement::Kind::done, t0, 0, ""}));  // the old attempts stay fenced out
    BOOST_TEST_REQUIRE(settle({id, 3, Settlement::Kind::retry, t0, t0, "third"}));
    BOOST_TEST(history_rows(io, store, id) == 3);
    BOOST_TEST(claim(1).at(0).out_of_attempts());  // the fourth run is the budget's last
}

BOOST_FIXTURE_TEST_CASE(the_reaper_counts_the_budget_from_an_operator_retry, StoreFixture) {
    auto spec = noop();
    spec.max_retries = 0;
    const auto id = enqueue(spec);
    BOOST_TEST_REQUIRE(claim(1).size() == 1u);
    BOOST_TEST_REQUIRE(settle({id, 1, Settlement::Kind::failed, t0, 0, "boom"}));
    BOOST_TEST_REQUIRE((run_awaitable(io, store.retry(id, t0)).outcome == core::JobChange::Outcome::changed));
    BOOST_TEST_REQUIRE(claim(1).size() == 1u);
    const auto report = run_awaitable(io, store.reap_expired(t0 + lease));
    BOOST_TEST(report.dead_lettered == 1u);  // the retry's one run was lost: dead, as its budget says
    BOOST_TEST(get(id).state == JobState::failed);
    BOOST_TEST(history_rows(io, store, id) == 2);
}

// Regression: the claim ran two queries per distinct priority level, and next_run_at one
// per level: with a thousand levels a claim cost thousands of statements.
BOOST_FIXTURE_TEST_CASE(claim_cost_does_not_grow_with_priority_levels, StoreFixture) {
    for (int level = 0; level < 1000; ++level) enqueue(noop(t0, level * 1000 - 500'000));
    for (int level = 0; level < 1000; ++level) enqueue(noop(t0 + 10'000, level));  // not yet due
    const auto plan = run_awaitable(io, store.on_db_thread<std::string>([](storage::Database& db) {
        std::string text;
        for (const auto* sql : {"EXPLAIN QUERY PLAN SELECT id FROM jobs WHERE state = 'queued' AND due = 1 "
                                "AND run_at <= 5 ORDER BY priority DESC, run_at, id LIMIT 10",
                                "EXPLAIN QUERY PLAN SELECT MIN(run_at) FROM jobs WHERE state = 'queued' AND due = 0"}) {
            auto s = db.cached(sql);
            while (s->step()) text += s->column_text(3) + "\n";
        }
        return text;
    }));
    BOOST_TEST(plan.find("USING INDEX jobs_claim_order") != std::string::npos, plan);
    BOOST_TEST(plan.find("USE TEMP B-TREE") == std::string::npos, plan);  // the index gives the order
    BOOST_TEST(plan.find("jobs_waiting") != std::string::npos, plan);
    const auto jobs = claim(5, t0);
    BOOST_TEST_REQUIRE(jobs.size() == 5u);
    for (std::size_t i = 0; i < jobs.size(); ++i) BOOST_TEST(jobs[i].priority == 499'000 - std::int64_t(i) * 1000);
    BOOST_TEST(run_awaitable(io, store.next_run_at()).value() == t0 + 10'000);
    BOOST_TEST(claim(2000, t0 + 10'000).size() == 1995u);
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
    const auto now = core::system_now_ms();
    const auto claimed = run_awaitable(io, store.claim(10, now, now + lease));
    BOOST_TEST_REQUIRE(claimed.size() == 1u);
    BOOST_TEST(claimed[0].id == 7);
    BOOST_TEST(claimed[0].attempts == 3);
    BOOST_TEST((run_awaitable(io, store.remove(8)).outcome == core::JobChange::Outcome::changed));
    BOOST_TEST(run_awaitable(io, store.enqueue(noop())).job.id == 9);
    BOOST_TEST(run_awaitable(io, store.on_db_thread<std::string>([](storage::Database& db) {
                   auto s = db.cached("PRAGMA integrity_check");
                   s->step();
                   return s->column_text(0);
               })) == "ok");
}

BOOST_AUTO_TEST_SUITE_END()

// The operator's side (core::JobAdmin).
BOOST_AUTO_TEST_SUITE(sqlite_job_admin)

using Outcome = core::JobChange::Outcome;

BOOST_FIXTURE_TEST_CASE(a_batch_is_stored_in_one_transaction_in_order, StoreFixture) {
    const auto before = store.commit_stats().transactions;
    auto keyed = noop();
    keyed.idempotency_key = "k";
    const auto results = run_awaitable(io, store.enqueue_batch({noop(), keyed, noop(), keyed}));
    BOOST_TEST_REQUIRE(results.size() == 4u);
    BOOST_TEST(store.commit_stats().transactions == before + 1);
    BOOST_TEST(results[0].job.id < results[1].job.id);
    BOOST_TEST(results[1].job.id < results[2].job.id);
    BOOST_TEST(!results[3].created);  // the key repeats within the batch: the same job
    BOOST_TEST(results[3].job.id == results[1].job.id);
}

BOOST_FIXTURE_TEST_CASE(list_filters_and_pages_by_id, StoreFixture) {
    std::vector<core::job_id> ids;
    for (int i = 0; i < 5; ++i) ids.push_back(enqueue(noop()));
    auto mail = noop();
    mail.queue = "mail";
    const auto mail_id = enqueue(mail);
    claim(1);  // ids[0] is processing now

    auto page = run_awaitable(io, store.list({}, std::nullopt, 4));
    BOOST_TEST_REQUIRE(page.jobs.size() == 4u);
    BOOST_TEST(page.jobs.front().id == ids[0]);
    BOOST_TEST(page.next_cursor.value() == ids[3]);
    page = run_awaitable(io, store.list({}, page.next_cursor, 4));
    BOOST_TEST(page.jobs.size() == 2u);
    BOOST_TEST(!page.next_cursor.has_value());

    core::JobFilter queued_mail;
    queued_mail.state = JobState::queued;
    queued_mail.queue = "mail";
    page = run_awaitable(io, store.list(queued_mail, std::nullopt, 100));
    BOOST_TEST_REQUIRE(page.jobs.size() == 1u);
    BOOST_TEST(page.jobs[0].id == mail_id);
    core::JobFilter processing;
    processing.state = JobState::processing;
    BOOST_TEST(run_awaitable(io, store.list(processing, std::nullopt, 100)).jobs.size() == 1u);
}

BOOST_FIXTURE_TEST_CASE(cancel_retry_and_remove_follow_the_lifecycle, StoreFixture) {
    const auto id = enqueue(noop());
    auto change = run_awaitable(io, store.cancel(id, t0 + 1));
    BOOST_TEST((change.outcome == Outcome::changed));
    BOOST_TEST(change.job->state == JobState::cancelled);
    BOOST_TEST(change.job->finished_at.value() == t0 + 1);
    BOOST_TEST((run_awaitable(io, store.cancel(id, t0 + 2)).outcome == Outcome::conflict));

    change = run_awaitable(io, store.retry(id, t0 + 3));
    BOOST_TEST((change.outcome == Outcome::changed));
    BOOST_TEST(change.job->state == JobState::queued);
    BOOST_TEST(change.job->run_at == t0 + 3);
    BOOST_TEST(change.job->attempts == 0);
    BOOST_TEST(!change.job->finished_at.has_value());

    claim(1, t0 + 3);
    change = run_awaitable(io, store.remove(id));
    BOOST_TEST((change.outcome == Outcome::conflict));
    BOOST_TEST(change.job->state == JobState::processing);
    BOOST_TEST((run_awaitable(io, store.retry(id, t0 + 4)).outcome == Outcome::conflict));
    BOOST_TEST(settle({id, 1, Settlement::Kind::failed, t0 + 5, 0, "boom"}));
    BOOST_TEST((run_awaitable(io, store.remove(id)).outcome == Outcome::changed));
    BOOST_TEST(!run_awaitable(io, store.get(id)).has_value());
    for (const auto outcome : {run_awaitable(io, store.remove(id)).outcome, run_awaitable(io, store.cancel(id, t0)).outcome,
                               run_awaitable(io, store.retry(id, t0)).outcome})
        BOOST_TEST((outcome == Outcome::not_found));
}

BOOST_FIXTURE_TEST_CASE(counts_group_by_state_queue_and_type, StoreFixture) {
    enqueue(noop());
    enqueue(noop());
    auto mail = noop(t0 + 10'000);
    mail.queue = "mail";
    enqueue(mail);
    claim(1);
    const auto counts = run_awaitable(io, store.counts());
    std::map<std::tuple<JobState, std::string>, std::int64_t> by;
    for (const auto& c : counts) by[{c.state, c.queue}] += c.count;
    BOOST_TEST((by[{JobState::queued, "default"}] == 1));
    BOOST_TEST((by[{JobState::processing, "default"}] == 1));
    BOOST_TEST((by[{JobState::queued, "mail"}] == 1));
    BOOST_TEST(run_awaitable(io, store.oldest_runnable(t0 + 5)).value() == t0);  // the due one, not mail
    BOOST_TEST(run_awaitable(io, store.writable()));
}

BOOST_FIXTURE_TEST_CASE(retention_deletes_old_finished_jobs_in_batches_with_their_history, StoreFixture) {
    // Jobs finished at t0 + 1 ... : done, cancelled and failed (with an attempt recorded).
    std::vector<core::job_id> done, failed;
    for (int i = 0; i < 5; ++i) {
        const auto id = enqueue(noop());
        claim(1);
        settle({id, 1, Settlement::Kind::done, t0 + 1 + i, 0, ""});
        done.push_back(id);
    }
    const auto cancelled = enqueue(noop());
    run_awaitable(io, store.cancel(cancelled, t0 + 1));
    for (int i = 0; i < 2; ++i) {
        const auto id = enqueue(noop());
        claim(1);
        settle({id, 1, Settlement::Kind::failed, t0 + 1, 0, "boom"});
        failed.push_back(id);
    }
    const auto queued = enqueue(noop(t0 - 1'000'000));  // old, but not finished
    const auto running = enqueue(noop(t0 - 1'000'000));
    claim(2, t0);
    BOOST_TEST(get(queued).state == JobState::processing);  // both claimed: old run_at first
    BOOST_TEST(settle({queued, 1, Settlement::Kind::retry, t0 + 1, t0 + 1'000'000, "again"}));

    auto expire = [&](std::optional<core::millis> finished_before, std::optional<core::millis> failed_before,
                      std::size_t limit) {
        return run_awaitable(io, store.delete_expired(finished_before, failed_before, limit));
    };
    BOOST_TEST(expire(t0 + 1, t0 + 1, 100) == 0u);        // strictly before: nothing finished before t0 + 1
    BOOST_TEST(expire(t0 + 3, std::nullopt, 2) == 2u);    // a batch: at most `limit`
    BOOST_TEST(expire(t0 + 3, std::nullopt, 100) == 1u);  // the cancelled one is left of those
    BOOST_TEST(!run_awaitable(io, store.get(done[0])).has_value());
    BOOST_TEST(!run_awaitable(io, store.get(cancelled)).has_value());
    BOOST_TEST(get(done[2]).state == JobState::done);
    BOOST_TEST(expire(t0 + 100, std::nullopt, 100) == 3u);  // failed jobs kept: their rule is off
    BOOST_TEST(get(failed[0]).state == JobState::failed);
    BOOST_TEST(expire(std::nullopt, t0 + 100, 100) == 2u);
    BOOST_TEST(!run_awaitable(io, store.get(failed[1])).has_value());
    // Unfinished jobs stay whatever their age; attempt history went with the deleted jobs.
    BOOST_TEST(get(queued).state == JobState::queued);
    BOOST_TEST(get(running).state == JobState::processing);
    const auto history = run_awaitable(io, store.on_db_thread<std::int64_t>([](storage::Database& db) {
        auto s = db.cached("SELECT COUNT(*) FROM job_attempts WHERE job_id NOT IN (SELECT id FROM jobs)");
        s->step();
        return s->column_int64(0);
    }));
    BOOST_TEST(history == 0);
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
