// core::LeaseStore's contract, run against every kind of store (store_factory.hpp): jobs of
// external types leased to workers outside jobq, each lease fenced by its token.
#include "core/lease_store.hpp"

#include "store_fixture.hpp"

#include <boost/test/unit_test.hpp>

#include <set>
#include <string>

using namespace jobq;
using namespace jobq::test::contract;
using core::JobState;

BOOST_AUTO_TEST_SUITE(lease_store_contract)

JOBQ_STORE_CONTRACT_TEST(external_jobs_are_leased_never_claimed_and_built_in_ones_never_leased) {
    const auto builtin = enqueue(noop());
    const auto outside = enqueue(external());
    const auto claimed = claim(10);
    BOOST_TEST_REQUIRE(claimed.size() == 1u);
    BOOST_TEST(claimed[0].id == builtin);
    const auto leased = lease_jobs(10);
    BOOST_TEST_REQUIRE(leased.size() == 1u);
    BOOST_TEST(leased[0].job.id == outside);
    BOOST_TEST((leased[0].job.state == JobState::processing));
    BOOST_TEST(leased[0].job.attempts == 1);
    BOOST_TEST(leased[0].job.worker.value() == "w1");
    BOOST_TEST(leased[0].job.lease_expires_at.value() == t0 + lease_ms);
    BOOST_TEST(leased[0].token.size() >= 32u);  // 128 bits, hex
    BOOST_TEST(get(outside).worker.value() == "w1");
    BOOST_TEST(lease_jobs(10).empty());
}

JOBQ_STORE_CONTRACT_TEST(leases_come_in_claim_order_narrowed_by_type_and_each_has_its_own_token) {
    const auto low = enqueue(external("resize"));
    auto urgent = external("resize");
    urgent.priority = 5;
    const auto high = enqueue(urgent);
    const auto other = enqueue(external("thumbnail"));
    const auto only_resize = lease_jobs(10, t0, {"resize"});
    BOOST_TEST_REQUIRE(only_resize.size() == 2u);
    BOOST_TEST(only_resize[0].job.id == high);
    BOOST_TEST(only_resize[1].job.id == low);
    BOOST_TEST(only_resize[0].token != only_resize[1].token);
    const auto rest = lease_jobs(10);
    BOOST_TEST_REQUIRE(rest.size() == 1u);
    BOOST_TEST(rest[0].job.id == other);
}

JOBQ_STORE_CONTRACT_TEST(an_ack_needs_the_current_token_and_keeps_the_result) {
    const auto id = enqueue(external());
    const auto leased = lease_jobs(1);
    BOOST_TEST_REQUIRE(leased.size() == 1u);
    const auto wrong = settle_lease(id, std::string(32, '0'), ack());
    BOOST_TEST_REQUIRE(!wrong.has_value());
    BOOST_TEST((wrong.error().code == core::errc::lease_lost));
    const auto missing = settle_lease(id + 1000, leased[0].token, ack());
    BOOST_TEST_REQUIRE(!missing.has_value());
    BOOST_TEST((missing.error().code == core::errc::not_found));
    BOOST_TEST((get(id).state == JobState::processing));  // refusals changed nothing

    const auto done = settle_lease(id, leased[0].token, ack(R"({"width":640})"));
    BOOST_TEST_REQUIRE(done.has_value());
    BOOST_TEST((done->state == JobState::done));
    BOOST_TEST(done->result.value() == R"({"width":640})");
    BOOST_TEST(!done->worker.has_value());
    const auto again = settle_lease(id, leased[0].token, ack());  // settled: the token is spent
    BOOST_TEST_REQUIRE(!again.has_value());
    BOOST_TEST((again.error().code == core::errc::lease_lost));
}

JOBQ_STORE_CONTRACT_TEST(a_failure_and_a_release_follow_the_decision) {
    const auto failing = enqueue(external());
    auto leased = lease_jobs(1);
    BOOST_TEST_REQUIRE(leased.size() == 1u);
    const auto failed = settle_lease(failing, leased[0].token, fail_permanently("bad input"));
    BOOST_TEST_REQUIRE(failed.has_value());
    BOOST_TEST((failed->state == JobState::failed));
    BOOST_TEST(failed->last_error.value() == "bad input");
    BOOST_TEST(attempt_records(failing) == 1);

    const auto released = enqueue(external());
    leased = lease_jobs(1);
    BOOST_TEST_REQUIRE(leased.size() == 1u);
    const auto back = settle_lease(released, leased[0].token, release(t0 + 5'000));
    BOOST_TEST_REQUIRE(back.has_value());
    BOOST_TEST((back->state == JobState::queued));
    BOOST_TEST(back->attempts == 0);  // the attempt is not counted
    BOOST_TEST(back->run_at == t0 + 5'000);
    BOOST_TEST(lease_jobs(1, t0 + 1).empty());  // not before its delay
    BOOST_TEST(lease_jobs(1, t0 + 5'000).size() == 1u);
}

JOBQ_STORE_CONTRACT_TEST(an_extended_lease_outlives_the_reaper_and_an_expired_one_is_leased_anew) {
    const auto id = enqueue(external());
    const auto first = lease_jobs(1);
    BOOST_TEST_REQUIRE(first.size() == 1u);
    BOOST_TEST(extend_lease(id, first[0].token, t0 + 3 * lease_ms).value() == t0 + 3 * lease_ms);
    BOOST_TEST(reap_expired(t0 + 2 * lease_ms).requeued == 0u);
    BOOST_TEST(reap_expired(t0 + 3 * lease_ms).requeued == 1u);
    const auto second = lease_jobs(1, t0 + 3 * lease_ms);
    BOOST_TEST_REQUIRE(second.size() == 1u);
    BOOST_TEST(second[0].job.attempts == 2);
    BOOST_TEST(second[0].token != first[0].token);
    BOOST_TEST((settle_lease(id, first[0].token, ack()).error().code == core::errc::lease_lost));
    BOOST_TEST((extend_lease(id, first[0].token, t0 + 9 * lease_ms).error().code == core::errc::lease_lost));
    BOOST_TEST(settle_lease(id, second[0].token, ack()).has_value());
}

// A restart ends every built-in run (its process is gone) but not an external worker's,
// which may still be working: its lease keeps its expiry and its ack still counts.
JOBQ_STORE_CONTRACT_TEST(recovery_keeps_external_leases_until_they_expire) {
    const auto builtin = enqueue(noop());
    const auto outside = enqueue(external());
    BOOST_TEST_REQUIRE(claim(1).size() == 1u);
    const auto leased = lease_jobs(1);
    BOOST_TEST_REQUIRE(leased.size() == 1u);
    reopen();
    const auto report = recover(t0 + 1);
    BOOST_TEST(report.requeued == 1u);
    BOOST_TEST((get(builtin).state == JobState::queued));
    BOOST_TEST((get(outside).state == JobState::processing));
    BOOST_TEST(settle_lease(outside, leased[0].token, ack()).has_value());

    const auto later = enqueue(external());
    const auto expiring = lease_jobs(1, t0 + 2);
    BOOST_TEST_REQUIRE(expiring.size() == 1u);
    BOOST_TEST(recover(t0 + 2 + lease_ms).requeued == 1u);  // expired by then: lost like any
    BOOST_TEST((get(later).state == JobState::queued));
}

JOBQ_STORE_CONTRACT_TEST(a_batch_of_settlements_is_answered_one_by_one) {
    const auto a = enqueue(external());
    const auto b = enqueue(external());
    const auto leased = lease_jobs(2);
    BOOST_TEST_REQUIRE(leased.size() == 2u);
    const auto results = finish(leases().settle_leases(
        {{a, leased[0].token, ack()}, {b, "not its token", ack()}, {b, leased[1].token, fail_permanently("x")}}));
    BOOST_TEST_REQUIRE(results.size() == 3u);
    BOOST_TEST(results[0].has_value());
    BOOST_TEST((results[1].error().code == core::errc::lease_lost));
    BOOST_TEST(results[2].has_value());
    BOOST_TEST((get(a).state == JobState::done));
    BOOST_TEST((get(b).state == JobState::failed));
}

JOBQ_STORE_CONTRACT_TEST(leases_held_are_counted_per_worker_until_settled) {
    for (int i = 0; i < 5; ++i) enqueue(external());
    const auto first = lease_jobs(2, t0, {}, "alpha");
    const auto second = lease_jobs(1, t0, {}, "beta");
    lease_jobs(1, t0, {}, std::nullopt);  // a worker without a name is not listed
    BOOST_TEST_REQUIRE(first.size() == 2u);
    auto held = finish(admin().leases_by_worker());
    BOOST_TEST_REQUIRE(held.size() == 2u);
    BOOST_TEST(held[0].worker == "alpha");
    BOOST_TEST(held[0].leases == 2);
    BOOST_TEST(held[1].worker == "beta");
    BOOST_TEST(held[1].leases == 1);
    BOOST_TEST_REQUIRE(settle_lease(first[0].job.id, first[0].token, ack()).has_value());
    BOOST_TEST_REQUIRE(settle_lease(second[0].job.id, second[0].token, ack()).has_value());
    held = finish(admin().leases_by_worker());
    BOOST_TEST_REQUIRE(held.size() == 1u);
    BOOST_TEST(held[0].worker == "alpha");
    BOOST_TEST(held[0].leases == 1);
}

BOOST_AUTO_TEST_SUITE_END()
