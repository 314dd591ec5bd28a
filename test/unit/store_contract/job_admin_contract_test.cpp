// core::JobAdmin's contract, run against every kind of store (store_factory.hpp).
#include "core/job_admin.hpp"

#include "store_fixture.hpp"

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <map>
#include <string>
#include <tuple>
#include <vector>

using namespace jobq;
using namespace jobq::test::contract;
using core::JobState;
using core::Settlement;
using Outcome = core::JobChange::Outcome;

BOOST_AUTO_TEST_SUITE(job_admin_contract)

// (That SQLite stores it in one transaction: sqlite_job_admin/a_batch_is_stored_in_one_transaction.)
JOBQ_STORE_CONTRACT_TEST(a_batch_is_stored_in_order) {
    auto keyed = noop();
    keyed.idempotency_key = "k";
    const auto results = enqueue_batch({noop(), keyed, noop(), keyed});
    BOOST_TEST_REQUIRE(results.size() == 4u);
    BOOST_TEST(results[0].job.id < results[1].job.id);
    BOOST_TEST(results[1].job.id < results[2].job.id);
    BOOST_TEST(!results[3].created);  // the key repeats within the batch: the same job
    BOOST_TEST(results[3].job.id == results[1].job.id);
}

JOBQ_STORE_CONTRACT_TEST(list_filters_and_pages_by_id) {
    std::vector<core::job_id> ids;
    for (int i = 0; i < 5; ++i) ids.push_back(enqueue(noop()));
    auto mail = noop();
    mail.queue = "mail";
    const auto mail_id = enqueue(mail);
    claim(1);  // ids[0] is processing now

    auto page = list({}, std::nullopt, 4);
    BOOST_TEST_REQUIRE(page.jobs.size() == 4u);
    BOOST_TEST(page.jobs.front().id == ids[0]);
    BOOST_TEST(page.next_cursor.value() == ids[3]);
    page = list({}, page.next_cursor, 4);
    BOOST_TEST(page.jobs.size() == 2u);
    BOOST_TEST(!page.next_cursor.has_value());

    core::JobFilter queued_mail;
    queued_mail.state = JobState::queued;
    queued_mail.queue = "mail";
    page = list(queued_mail, std::nullopt, 100);
    BOOST_TEST_REQUIRE(page.jobs.size() == 1u);
    BOOST_TEST(page.jobs[0].id == mail_id);
    core::JobFilter processing;
    processing.state = JobState::processing;
    BOOST_TEST(list(processing, std::nullopt, 100).jobs.size() == 1u);
}

JOBQ_STORE_CONTRACT_TEST(cancel_retry_and_remove_follow_the_lifecycle) {
    const auto id = enqueue(noop());
    auto change = cancel(id, t0 + 1);
    BOOST_TEST((change.outcome == Outcome::changed));
    BOOST_TEST(change.job->state == JobState::cancelled);
    BOOST_TEST(change.job->finished_at.value() == t0 + 1);
    BOOST_TEST((cancel(id, t0 + 2).outcome == Outcome::conflict));

    change = retry(id, t0 + 3);
    BOOST_TEST((change.outcome == Outcome::changed));
    BOOST_TEST(change.job->state == JobState::queued);
    BOOST_TEST(change.job->run_at == t0 + 3);
    BOOST_TEST(change.job->attempts == 0);
    BOOST_TEST(!change.job->finished_at.has_value());

    claim(1, t0 + 3);
    change = remove(id);
    BOOST_TEST((change.outcome == Outcome::conflict));
    BOOST_TEST(change.job->state == JobState::processing);
    BOOST_TEST((retry(id, t0 + 4).outcome == Outcome::conflict));
    BOOST_TEST(settle({id, 1, Settlement::Kind::failed, t0 + 5, 0, "boom"}));
    BOOST_TEST((remove(id).outcome == Outcome::changed));
    BOOST_TEST(!find(id).has_value());
    for (const auto outcome : {remove(id).outcome, cancel(id, t0).outcome, retry(id, t0).outcome})
        BOOST_TEST((outcome == Outcome::not_found));
}

JOBQ_STORE_CONTRACT_TEST(counts_group_by_state_queue_and_type) {
    enqueue(noop());
    enqueue(noop());
    auto mail = noop(t0 + 10'000);
    mail.queue = "mail";
    enqueue(mail);
    claim(1);
    std::map<std::tuple<JobState, std::string>, std::int64_t> by;
    for (const auto& c : counts()) by[{c.state, c.queue}] += c.count;
    BOOST_TEST((by[{JobState::queued, "default"}] == 1));
    BOOST_TEST((by[{JobState::processing, "default"}] == 1));
    BOOST_TEST((by[{JobState::queued, "mail"}] == 1));
    BOOST_TEST(oldest_runnable(t0 + 5).value() == t0);  // the due one, not mail
    BOOST_TEST(writable());
}

namespace {

using CountTable = std::map<std::tuple<std::string, std::string, JobState>, std::int64_t>;

CountTable table_of(const std::vector<core::JobCount>& counts) {
    CountTable table;
    for (const auto& c : counts) table[{c.queue, c.type, c.state}] += c.count;
    return table;
}

std::string text_of(const CountTable& table) {
    std::string text;
    for (const auto& [key, n] : table) {
        const auto& [queue, type, state] = key;
        text += queue + "/" + type + "/" + std::string(core::to_string(state)) + "=" + std::to_string(n) + " ";
    }
    return text;
}

}  // namespace

// The kept counts equal a count over the jobs after every kind of change, one by one.
JOBQ_STORE_CONTRACT_TEST(kept_counts_equal_a_count_over_the_jobs_after_every_change) {
    std::size_t step = 0;
    const auto check = [&](std::string_view what) {
        ++step;
        const auto kept = table_of(counts());
        const auto counted = table_of(counted_over_jobs());
        BOOST_TEST((kept == counted), "after " << what << " (step " << step << "): kept " << text_of(kept)
                                               << "counted " << text_of(counted));
    };
    auto mail = noop();
    mail.queue = "mail";
    mail.type = "email";
    auto keyed = noop();
    keyed.idempotency_key = "once";
    auto single = noop();
    single.max_retries = 0;
    single.queue = "single";  // the first claim, of 3, takes the other queues' due jobs

    enqueue(noop());
    check("enqueue");
    enqueue(keyed);
    enqueue(keyed);
    check("an idempotent repeat");
    const auto batch = enqueue_batch({mail, mail, noop(t0 + 60'000), keyed, single});
    check("a batch");
    const auto claimed = claim(3);
    BOOST_TEST_REQUIRE(claimed.size() == 3u);
    check("a claim");
    // Named by the queue and type its worker ran it with, as the engine names them.
    BOOST_TEST(!settle({claimed[0].id, 1, Settlement::Kind::done, t0 + 1, 0, "", "mail", "noop"}));
    check("a success naming another queue (refused)");
    BOOST_TEST(settle({claimed[0].id, 1, Settlement::Kind::done, t0 + 1, 0, "", claimed[0].queue, claimed[0].type}));
    check("a success");
    BOOST_TEST(settle({claimed[1].id, 1, Settlement::Kind::retry, t0 + 1, t0 + 2, "again"}));
    check("a retry");
    BOOST_TEST(settle({claimed[2].id, 1, Settlement::Kind::failed, t0 + 1, 0, "no"}));
    check("a failure");
    BOOST_TEST(!settle({claimed[2].id, 1, Settlement::Kind::done, t0 + 1, 0, ""}));
    check("a settlement fencing refused");
    BOOST_TEST(settle_all({{claimed[0].id, 1, Settlement::Kind::done, t0 + 1, 0, ""}}) == std::vector<bool>{false});
    check("a batch of settlements fencing refused");

    auto leased = claim(10, t0 + 3);
    BOOST_TEST_REQUIRE(leased.size() >= 3u);
    // Released: one that is not `single`, which the reaper is to dead-letter.
    const auto& released = leased[0].id != batch[4].job.id ? leased[0] : leased[1];
    BOOST_TEST(settle({released.id, released.attempts, Settlement::Kind::released, t0 + 3, 0, ""}));
    check("a release");
    const auto reaped = reap_expired(t0 + 3 + lease);
    BOOST_TEST(reaped.requeued + reaped.dead_lettered == leased.size() - 1);
    BOOST_TEST(reaped.dead_lettered >= 1u);  // `single` had no retry left
    check("the reaper (requeued and dead-lettered)");

    const auto waiting = enqueue(noop(t0 + 1'000'000));
    BOOST_TEST((cancel(waiting, t0 + 4).outcome == Outcome::changed));
    check("a cancel");
    BOOST_TEST((retry(waiting, t0 + 5).outcome == Outcome::changed));
    check("a retry of a cancelled job");
    BOOST_TEST((retry(claimed[2].id, t0 + 5).outcome == Outcome::changed));
    check("a retry of a failed job");
    BOOST_TEST((retry(claimed[2].id, t0 + 5).outcome == Outcome::conflict));
    check("a retry refused");
    BOOST_TEST((remove(batch[2].job.id).outcome == Outcome::changed));
    check("a delete");
    BOOST_TEST((remove(batch[2].job.id).outcome == Outcome::not_found));
    check("a delete of no job");

    BOOST_TEST(claim(100, t0 + 10).size() >= 1u);
    claim(100, t0 + 100'000);  // the delayed one, due now
    std::vector<Settlement> outcomes;
    for (const auto& job : finish(admin().list({JobState::processing, {}, {}}, std::nullopt, 100)).jobs)
        outcomes.push_back({job.id, job.attempts, Settlement::Kind::done, t0 + 20, 0, "", job.queue, job.type});
    BOOST_TEST_REQUIRE(outcomes.size() >= 2u);
    const auto recorded = settle_all(outcomes);
    BOOST_TEST(std::count(recorded.begin(), recorded.end(), true) == static_cast<long>(outcomes.size()));
    check("a batch of successes");
    BOOST_TEST(delete_expired(t0 + 21, t0 + 21, 2) == 2u);
    check("a retention sweep");

    enqueue(noop());
    claim(1, t0 + 30);
    const auto recovered = recover(t0 + 31);
    BOOST_TEST(recovered.requeued == 1u);
    check("recovery");

    const auto outside = enqueue(external());
    check("an external job");
    auto held = lease_jobs(1, t0 + 40);
    BOOST_TEST_REQUIRE(held.size() == 1u);
    check("a lease");
    BOOST_TEST(settle_lease(outside, held[0].token, ack("{}")).has_value());
    check("an ack");
    enqueue(external());
    held = lease_jobs(1, t0 + 41);
    BOOST_TEST_REQUIRE(held.size() == 1u);
    BOOST_TEST(settle_lease(held[0].job.id, held[0].token, fail_permanently("no")).has_value());
    check("a failure through a lease");

    set_full(true);
    auto large = mail;
    large.payload = "\"" + std::string(64 * 1024, 'x') + "\"";  // more than any free room
    BOOST_CHECK_THROW(enqueue_batch({noop(), large, large}), core::StorageError);
    set_full(false);
    check("a transaction that failed");

    reopen();
    check("a restart");
    BOOST_TEST(!counts().empty());
}

// Bulk actions on one queue: a window of ids at a time, that queue only, processing jobs
// never, jobs that came after the first step never, the kept counts kept.
JOBQ_STORE_CONTRACT_TEST(a_queues_failed_jobs_are_retried_and_its_jobs_purged_a_window_at_a_time) {
    const auto in_queue = [](std::string queue) {
        auto spec = noop();
        spec.queue = std::move(queue);
        return spec;
    };
    // Steps to the end; how many jobs changed and how many steps it took.
    const auto run_all = [&](const auto& step_from) {
        std::size_t changed = 0;
        std::size_t steps = 0;
        core::job_id after = 0;
        std::optional<core::job_id> up_to;
        for (;;) {
            const core::BulkStep step = step_from(after, up_to);
            ++steps;
            changed += step.changed;
            if (!step.next) break;
            BOOST_TEST_REQUIRE(*step.next > after);
            after = *step.next;
            up_to = step.up_to;
        }
        return std::pair{changed, steps};
    };
    const auto fail_now = [&](core::job_id id, const std::string& queue) {
        BOOST_TEST_REQUIRE(claim_only(1, {}, {queue}).at(0).id == id);
        BOOST_TEST_REQUIRE(settle({id, 1, Settlement::Kind::failed, t0 + 1, 0, "boom"}));
    };
    std::vector<core::job_id> failed_mail;
    for (int i = 0; i < 5; ++i) {
        const std::string queue = i < 3 ? "mail" : "other";
        const auto id = enqueue(in_queue(queue));
        fail_now(id, queue);
        if (i < 3) failed_mail.push_back(id);
    }
    // Over a thousand queued jobs between them: the failed ones span several windows.
    std::vector<core::JobSpec> filler(1'200, in_queue("filler"));
    filler.front().run_at = t0 + 1'000'000;  // not claimed by the claims below
    for (auto& spec : filler) spec.run_at = t0 + 1'000'000;
    enqueue_batch(filler);
    const auto late_mail = enqueue(in_queue("mail"));
    fail_now(late_mail, "mail");
    failed_mail.push_back(late_mail);
    const auto done = enqueue(in_queue("mail"));
    claim(1);
    BOOST_TEST_REQUIRE(settle({done, 1, Settlement::Kind::done, t0 + 1, 0, ""}));
    const auto cancelled = enqueue(in_queue("mail"));
    cancel(cancelled, t0 + 1);
    const auto running = enqueue(in_queue("mail"));
    claim(1);

    const auto [retried, steps] = run_all([&](core::job_id after, std::optional<core::job_id> up_to) {
        return finish(admin().retry_failed("mail", t0 + 5, after, up_to));
    });
    BOOST_TEST(retried == 4u);
    BOOST_TEST(steps >= 2u);  // the failed jobs span more than one window
    for (const auto id : failed_mail) {
        BOOST_TEST(get(id).state == JobState::queued);
        BOOST_TEST(get(id).attempts_since_retry() == 0);  // a fresh budget, as retry() gives
    }
    BOOST_TEST(list({JobState::failed, std::nullopt, std::nullopt}, std::nullopt, 10).jobs.size() == 2u);  // other's

    // A job failing after the action began is left alone: the steps end.
    const auto first = finish(admin().retry_failed("other", t0 + 5, 0, std::nullopt));
    const auto newcomer = enqueue(in_queue("other"));
    fail_now(newcomer, "other");
    std::size_t other_retried = first.changed;
    for (auto step = first; step.next;) {
        step = finish(admin().retry_failed("other", t0 + 5, *step.next, step.up_to));
        other_retried += step.changed;
    }
    BOOST_TEST(other_retried == 2u);
    BOOST_TEST(get(newcomer).state == JobState::failed);

    const auto purge_all = [&](const std::string& queue, JobState state) {
        return run_all([&](core::job_id after, std::optional<core::job_id> up_to) {
                   return finish(admin().purge(queue, state, after, up_to));
               }).first;
    };
    BOOST_TEST(purge_all("mail", JobState::done) == 1u);
    BOOST_TEST(!find(done).has_value());
    BOOST_TEST(attempt_records(done) == 0);  // the history went with it
    BOOST_TEST(purge_all("mail", JobState::cancelled) == 1u);
    BOOST_TEST(purge_all("mail", JobState::queued) == 4u);
    BOOST_TEST(purge_all("mail", JobState::processing) == 0u);  // running: never
    BOOST_TEST(get(running).state == JobState::processing);
    BOOST_TEST(purge_all("other", JobState::failed) == 1u);  // the newcomer
    BOOST_TEST(purge_all("filler", JobState::queued) == 1'200u);
    const auto kept = table_of(counts());
    BOOST_TEST((kept == table_of(counted_over_jobs())), text_of(kept));
}

JOBQ_STORE_CONTRACT_TEST(retention_deletes_old_finished_jobs_in_batches_with_their_history) {
    // Jobs finished at t0 + 1 ... : done, cancelled and failed (with an attempt recorded).
    std::vector<core::job_id> done, failed;
    for (int i = 0; i < 5; ++i) {
        const auto id = enqueue(noop());
        claim(1);
        settle({id, 1, Settlement::Kind::done, t0 + 1 + i, 0, ""});
        done.push_back(id);
    }
    const auto cancelled = enqueue(noop());
    cancel(cancelled, t0 + 1);
    for (int i = 0; i < 2; ++i) {
        const auto id = enqueue(noop());
        claim(1);
        settle({id, 1, Settlement::Kind::failed, t0 + 1, 0, "boom"});
        failed.push_back(id);
    }
    for (const auto id : failed) BOOST_TEST_REQUIRE(attempt_records(id) == 1);
    const auto queued = enqueue(noop(t0 - 1'000'000));  // old, but not finished
    const auto running = enqueue(noop(t0 - 1'000'000));
    claim(2, t0);
    BOOST_TEST(get(queued).state == JobState::processing);  // both claimed: old run_at first
    BOOST_TEST(settle({queued, 1, Settlement::Kind::retry, t0 + 1, t0 + 1'000'000, "again"}));

    BOOST_TEST(delete_expired(t0 + 1, t0 + 1, 100) == 0u);        // strictly before: nothing finished before t0 + 1
    BOOST_TEST(delete_expired(t0 + 3, std::nullopt, 2) == 2u);    // a batch: at most `limit`
    BOOST_TEST(delete_expired(t0 + 3, std::nullopt, 100) == 1u);  // the cancelled one is left of those
    BOOST_TEST(!find(done[0]).has_value());
    BOOST_TEST(!find(cancelled).has_value());
    BOOST_TEST(get(done[2]).state == JobState::done);
    BOOST_TEST(delete_expired(t0 + 100, std::nullopt, 100) == 3u);  // failed jobs kept: their rule is off
    BOOST_TEST(get(failed[0]).state == JobState::failed);
    BOOST_TEST(delete_expired(std::nullopt, t0 + 100, 100) == 2u);
    BOOST_TEST(!find(failed[1]).has_value());
    // Unfinished jobs stay whatever their age; attempt history went with the deleted jobs.
    BOOST_TEST(get(queued).state == JobState::queued);
    BOOST_TEST(get(running).state == JobState::processing);
    for (const auto id : done) BOOST_TEST(attempt_records(id) == 0);
    for (const auto id : failed) BOOST_TEST(attempt_records(id) == 0);
    BOOST_TEST(attempt_records(cancelled) == 0);
    BOOST_TEST(attempt_records(queued) == 1);  // a kept job keeps its history
}

BOOST_AUTO_TEST_SUITE_END()
