// core::JobStore's contract, run against every kind of store (store_factory.hpp).
#include "core/job_store.hpp"

#include "store_fixture.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <string>
#include <vector>

using namespace jobq;
using namespace jobq::test::contract;
using core::Job;
using core::JobState;
using core::Settlement;
namespace asio = boost::asio;

BOOST_AUTO_TEST_SUITE(job_store_contract)

JOBQ_STORE_CONTRACT_TEST(enqueued_job_reads_back_queued) {
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
    BOOST_TEST(!find(id + 100).has_value());
}

JOBQ_STORE_CONTRACT_TEST(idempotency_key_answers_the_existing_job) {
    auto spec = noop();
    spec.idempotency_key = "order-17";
    const auto first = enqueue_result(spec);
    const auto second = enqueue_result(spec);
    BOOST_TEST(first.created);
    BOOST_TEST(!second.created);
    BOOST_TEST(second.job.id == first.job.id);
    BOOST_TEST(enqueue(noop()) == first.job.id + 1);  // no id was consumed by the repeat
}

JOBQ_STORE_CONTRACT_TEST(jobs_without_an_idempotency_key_never_conflict) {
    const auto a = enqueue_result(noop());
    const auto b = enqueue_result(noop());
    BOOST_TEST(a.created);
    BOOST_TEST(b.created);
    BOOST_TEST(a.job.id != b.job.id);
}

// What the durability contract (core/durability.hpp) lets a test see: an acknowledged
// enqueue is stored, whatever else was being stored beside it.
JOBQ_STORE_CONTRACT_TEST(every_acknowledged_enqueue_reads_back_at_once) {
    constexpr int count = 200;
    int acknowledged = 0;
    int readable_when_acknowledged = 0;
    auto submit = [&](int i) -> asio::awaitable<void> {
        auto spec = noop();
        spec.idempotency_key = "k" + std::to_string(i);
        const auto result = co_await store().enqueue(std::move(spec));
        ++acknowledged;
        const auto job = co_await store().get(result.job.id);
        readable_when_acknowledged += job.has_value() && job->idempotency_key == "k" + std::to_string(i);
    };
    for (int i = 0; i < count; ++i) asio::co_spawn(io, submit(i), asio::detached);
    io.restart();
    io.run_for(std::chrono::seconds(60));
    BOOST_TEST(acknowledged == count);
    BOOST_TEST(readable_when_acknowledged == count);
}

JOBQ_STORE_CONTRACT_TEST(failed_commit_fails_every_waiter_and_stores_nothing) {
    enqueue(noop());
    set_full(true);  // the next inserts cannot fit
    const std::string big_payload = "\"" + std::string(20'000, 'x') + "\"";
    int failed = 0, succeeded = 0;
    auto submit = [&]() -> asio::awaitable<void> {
        auto spec = noop();
        spec.payload = big_payload;
        try {
            co_await store().enqueue(std::move(spec));
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
    std::int64_t stored = 0;
    for (const auto& c : counts()) stored += c.count;
    BOOST_TEST(stored == 1);

    // When space returns, writes resume without a restart.
    set_full(false);
    auto spec = noop();
    spec.payload = big_payload;
    BOOST_TEST(enqueue(spec) > 0);
}

JOBQ_STORE_CONTRACT_TEST(claim_orders_by_priority_then_run_at_and_skips_future_jobs) {
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
    BOOST_TEST(next_run_at().value() == t0 + 1'000);
    BOOST_TEST(next_lease_expiry().value() == t0 + lease);
}

JOBQ_STORE_CONTRACT_TEST(claim_walks_priority_levels_past_jobs_not_yet_due) {
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

// A thousand priority levels, each with a due job, and a thousand more jobs not yet due:
// the claim still takes the highest levels first. (What it costs SQLite:
// sqlite_job_store/claim_cost_does_not_grow_with_priority_levels.)
JOBQ_STORE_CONTRACT_TEST(a_claim_narrowed_to_types_and_queues_takes_only_those_in_claim_order) {
    auto job = [](std::string type, std::string queue, std::int64_t priority) {
        auto spec = noop(t0, priority);
        spec.type = std::move(type);
        spec.queue = std::move(queue);
        return spec;
    };
    const auto mail_low = enqueue(job("email", "mail", 0));
    enqueue(job("noop", "mail", 9));
    const auto mail_high = enqueue(job("email", "mail", 5));
    const auto bulk = enqueue(job("email", "bulk", 7));
    enqueue(job("webhook", "hooks", 3));

    const auto emails = claim_only(10, {"email"}, {"mail"});
    BOOST_TEST_REQUIRE(emails.size() == 2u);
    BOOST_TEST(emails[0].id == mail_high);
    BOOST_TEST(emails[1].id == mail_low);
    const auto any_email = claim_only(10, {"email"}, {});
    BOOST_TEST_REQUIRE(any_email.size() == 1u);
    BOOST_TEST(any_email[0].id == bulk);
    BOOST_TEST(claim_only(10, {"email", "noop"}, {"bulk", "hooks"}).empty());
    BOOST_TEST(claim_only(10, {}, {"hooks"}).size() == 1u);
    BOOST_TEST(claim(10).size() == 1u);  // the noop job of mail, left by every narrowed claim
}

JOBQ_STORE_CONTRACT_TEST(claim_orders_across_a_thousand_priority_levels) {
    for (int level = 0; level < 1000; ++level) enqueue(noop(t0, level * 1000 - 500'000));
    for (int level = 0; level < 1000; ++level) enqueue(noop(t0 + 10'000, level));  // not yet due
    const auto jobs = claim(5, t0);
    BOOST_TEST_REQUIRE(jobs.size() == 5u);
    for (std::size_t i = 0; i < jobs.size(); ++i) BOOST_TEST(jobs[i].priority == 499'000 - std::int64_t(i) * 1000);
    BOOST_TEST(next_run_at().value() == t0 + 10'000);
    BOOST_TEST(claim(2000, t0 + 10'000).size() == 1995u);
}

JOBQ_STORE_CONTRACT_TEST(next_run_at_is_the_earliest_across_priority_levels) {
    BOOST_TEST(!next_run_at().has_value());
    enqueue(noop(t0 + 5'000, 9));
    enqueue(noop(t0 + 3'000, 0));  // a lower level holds the earliest
    enqueue(noop(t0 + 4'000, -7));
    BOOST_TEST(next_run_at().value() == t0 + 3'000);
}

JOBQ_STORE_CONTRACT_TEST(claim_takes_at_most_the_batch_size) {
    for (int i = 0; i < 10; ++i) enqueue(noop());
    BOOST_TEST(claim(4).size() == 4u);
    BOOST_TEST(claim(100).size() == 6u);
    BOOST_TEST(claim(100).empty());
}

JOBQ_STORE_CONTRACT_TEST(processing_to_done) {
    const auto id = enqueue(noop());
    claim(1);
    BOOST_TEST(settle({id, 1, Settlement::Kind::done, t0 + 10, 0, ""}));
    const Job job = get(id);
    BOOST_TEST(job.state == JobState::done);
    BOOST_TEST(job.finished_at.value() == t0 + 10);
    BOOST_TEST(!job.lease_expires_at.has_value());
}

JOBQ_STORE_CONTRACT_TEST(processing_to_queued_on_retry_records_the_error) {
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

JOBQ_STORE_CONTRACT_TEST(processing_to_failed) {
    const auto id = enqueue(noop());
    claim(1);
    BOOST_TEST(settle({id, 1, Settlement::Kind::failed, t0 + 10, 0, "550 no such user"}));
    const Job job = get(id);
    BOOST_TEST(job.state == JobState::failed);
    BOOST_TEST(job.last_error.value() == "550 no such user");
    BOOST_TEST(job.finished_at.value() == t0 + 10);
}

JOBQ_STORE_CONTRACT_TEST(released_job_is_queued_without_counting_the_attempt) {
    const auto id = enqueue(noop());
    claim(1);
    BOOST_TEST(settle({id, 1, Settlement::Kind::released, t0 + 10, 0, ""}));
    const Job job = get(id);
    BOOST_TEST(job.state == JobState::queued);
    BOOST_TEST(job.attempts == 0);
    BOOST_TEST(job.run_at == t0 + 10);
}

JOBQ_STORE_CONTRACT_TEST(fencing_refuses_a_stale_attempt) {
    const auto id = enqueue(noop());
    claim(1);  // attempt 1, whose lease will expire
    const auto reaped = reap_expired(t0 + lease);
    BOOST_TEST(reaped.requeued == 1u);
    BOOST_TEST(claim(1, t0 + lease).size() == 1u);  // attempt 2
    BOOST_TEST(!settle({id, 1, Settlement::Kind::done, t0 + lease + 1, 0, ""}));
    BOOST_TEST(get(id).state == JobState::processing);
    BOOST_TEST(settle({id, 2, Settlement::Kind::done, t0 + lease + 2, 0, ""}));
    BOOST_TEST(get(id).state == JobState::done);
    BOOST_TEST(!settle({id, 2, Settlement::Kind::failed, t0 + lease + 3, 0, "late"}));  // done is final
    BOOST_TEST(get(id).state == JobState::done);
}

// An error text from outside (a worker's) may hold a NUL character: it is recorded (on
// PostgreSQL, whose text holds none, as U+FFFD) and fails nothing beside it in the batch.
JOBQ_STORE_CONTRACT_TEST(an_error_holding_a_nul_character_is_recorded_and_fails_nothing_else) {
    const auto a = enqueue(noop());
    const auto b = enqueue(noop());
    claim(2);
    const std::string error("bad\0byte", 8);
    const auto recorded = settle_all({{a, 1, Settlement::Kind::failed, t0 + 1, 0, error},
                                      {b, 1, Settlement::Kind::done, t0 + 1, 0, ""}});
    BOOST_TEST((recorded == std::vector<bool>{true, true}));
    const auto stored = get(a).last_error.value();
    BOOST_TEST(stored.starts_with("bad"));
    BOOST_TEST(stored.ends_with("byte"));
    BOOST_TEST(get(b).state == JobState::done);
    BOOST_TEST(enqueue(noop()) > b);  // the store goes on
}

JOBQ_STORE_CONTRACT_TEST(settle_all_records_a_batch_in_one_transaction_and_fences_each) {
    const auto a = enqueue(noop());
    const auto b = enqueue(noop());
    const auto c = enqueue(noop());
    claim(3);
    const auto recorded = settle_all({{a, 1, Settlement::Kind::done, t0 + 1, 0, ""},
                                      {b, 7, Settlement::Kind::done, t0 + 1, 0, ""},  // stale
                                      {c, 1, Settlement::Kind::retry, t0 + 1, t0 + 9, "again"}});
    BOOST_TEST((recorded == std::vector<bool>{true, false, true}));
    BOOST_TEST(get(a).state == JobState::done);
    BOOST_TEST(get(b).state == JobState::processing);
    BOOST_TEST(get(c).state == JobState::queued);
    BOOST_TEST(get(c).last_error.value() == "again");
}

JOBQ_STORE_CONTRACT_TEST(reaper_dead_letters_a_job_out_of_attempts) {
    auto spec = noop();
    spec.max_retries = 0;
    const auto id = enqueue(spec);
    claim(1);
    BOOST_TEST(reap_expired(t0 + lease - 1).requeued == 0u);  // not expired yet
    const auto report = reap_expired(t0 + lease);
    BOOST_TEST(report.dead_lettered == 1u);
    BOOST_TEST(get(id).state == JobState::failed);
    BOOST_TEST(get(id).last_error.value() == "lease expired");
}

JOBQ_STORE_CONTRACT_TEST(recovery_requeues_every_processing_row) {
    const auto a = enqueue(noop());
    auto last_chance = noop();
    last_chance.max_retries = 0;
    const auto b = enqueue(last_chance);
    const auto c = enqueue(noop());
    claim(3);
    BOOST_TEST(settle({c, 1, Settlement::Kind::done, t0, 0, ""}));
    // Leases far in the future: recovery must not wait for them.
    const auto report = recover(t0 + 1);
    BOOST_TEST(report.requeued == 1u);
    BOOST_TEST(report.dead_lettered == 1u);
    BOOST_TEST(get(a).state == JobState::queued);
    BOOST_TEST(get(a).run_at == t0 + 1);
    BOOST_TEST(get(b).state == JobState::failed);
    BOOST_TEST(get(c).state == JobState::done);
}

JOBQ_STORE_CONTRACT_TEST(queued_to_cancelled_is_not_claimed) {
    const auto id = enqueue(noop());
    BOOST_TEST_REQUIRE((cancel(id, t0).outcome == core::JobChange::Outcome::changed));
    BOOST_TEST(claim(10).empty());
    BOOST_TEST(get(id).state == JobState::cancelled);
}

// Regression: SQLite reused the highest id once its row was gone, so after a DELETE (or a
// retention sweep, or everything deleted and a restart) a new job took an old job's id,
// and a webhook receiver deduplicating on X-Jobq-Job-Id dropped it.
JOBQ_STORE_CONTRACT_TEST(ids_are_never_reused_across_deletes_and_restarts) {
    std::vector<core::job_id> ids;
    for (int i = 0; i < 3; ++i) ids.push_back(enqueue(noop()));
    BOOST_TEST_REQUIRE((remove(ids.back()).outcome == core::JobChange::Outcome::changed));
    const auto last = enqueue(noop());
    BOOST_TEST(last > ids.back());
    for (const auto id : {ids[0], ids[1], last})
        BOOST_TEST_REQUIRE((remove(id).outcome == core::JobChange::Outcome::changed));
    reopen();
    BOOST_TEST(enqueue(noop()) > last);
}

// Regression: an operator retry reset `attempts` to 0, so the next attempts took numbers
// the history already had and INSERT OR REPLACE overwrote their records (and a worker of
// the old attempt with the same number would have passed the fence).
JOBQ_STORE_CONTRACT_TEST(an_operator_retry_keeps_every_attempt_and_its_record) {
    auto spec = noop();
    spec.max_retries = 1;
    const auto id = enqueue(spec);
    BOOST_TEST_REQUIRE(claim(1).size() == 1u);
    BOOST_TEST_REQUIRE(settle({id, 1, Settlement::Kind::retry, t0, t0, "first"}));
    BOOST_TEST_REQUIRE(claim(1).size() == 1u);
    BOOST_TEST_REQUIRE(settle({id, 2, Settlement::Kind::failed, t0, 0, "second"}));
    BOOST_TEST_REQUIRE(attempt_records(id) == 2);

    const auto change = retry(id, t0);
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
    BOOST_TEST(attempt_records(id) == 3);
    BOOST_TEST(claim(1).at(0).out_of_attempts());  // the fourth run is the budget's last
}

JOBQ_STORE_CONTRACT_TEST(the_reaper_counts_the_budget_from_an_operator_retry) {
    auto spec = noop();
    spec.max_retries = 0;
    const auto id = enqueue(spec);
    BOOST_TEST_REQUIRE(claim(1).size() == 1u);
    BOOST_TEST_REQUIRE(settle({id, 1, Settlement::Kind::failed, t0, 0, "boom"}));
    BOOST_TEST_REQUIRE((retry(id, t0).outcome == core::JobChange::Outcome::changed));
    BOOST_TEST_REQUIRE(claim(1).size() == 1u);
    const auto report = reap_expired(t0 + lease);
    BOOST_TEST(report.dead_lettered == 1u);  // the retry's one run was lost: dead, as its budget says
    BOOST_TEST(get(id).state == JobState::failed);
    BOOST_TEST(attempt_records(id) == 2);
}

BOOST_AUTO_TEST_SUITE_END()
