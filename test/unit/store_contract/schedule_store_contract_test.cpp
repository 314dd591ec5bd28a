// core::ScheduleStore's contract, run against every kind of store (store_factory.hpp):
// schedules kept durably, and each tick's job stored in the transaction that advances the
// schedule, exactly once.
#include "core/schedule_store.hpp"

#include "store_fixture.hpp"


#include <boost/test/unit_test.hpp>

#include <string>

using namespace jobq;
using namespace jobq::test::contract;

namespace {

core::Schedule digest(core::millis next_run_at) {
    core::Schedule s;
    s.name = "digest";
    s.cron = "0 7 * * *";
    s.timezone = "Europe/Berlin";
    s.job.type = "noop";
    s.job.payload = R"({"sleep_ms":1})";
    s.job.queue = "mail";
    s.job.priority = 3;
    s.job.max_retries = 5;
    s.catch_up = core::CatchUp::all;
    s.anchor = t0;
    s.next_run_at = next_run_at;
    return s;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(schedule_store_contract)

JOBQ_STORE_CONTRACT_TEST(a_schedule_is_created_replaced_listed_and_deleted) {
    BOOST_TEST(finish(schedules().put_schedule(digest(t0 + 1'000))));  // created
    auto changed = digest(t0 + 2'000);
    changed.cron = "0 8 * * *";
    changed.paused = true;
    BOOST_TEST(!finish(schedules().put_schedule(changed)));  // replaced
    const auto stored = finish(schedules().get_schedule("digest"));
    BOOST_TEST_REQUIRE(stored.has_value());
    BOOST_TEST(stored->cron == "0 8 * * *");
    BOOST_TEST(stored->timezone == "Europe/Berlin");
    BOOST_TEST(stored->job.type == "noop");
    BOOST_TEST(stored->job.payload == R"({"sleep_ms":1})");
    BOOST_TEST(stored->job.queue == "mail");
    BOOST_TEST(stored->job.priority == 3);
    BOOST_TEST(stored->job.max_retries == 5);
    BOOST_TEST((stored->catch_up == core::CatchUp::all));
    BOOST_TEST(stored->paused);
    BOOST_TEST(stored->anchor == t0);
    BOOST_TEST(stored->next_run_at.value() == t0 + 2'000);
    BOOST_TEST(!stored->last_run_at.has_value());

    auto other = digest(t0 + 5'000);
    other.name = "another";
    finish(schedules().put_schedule(other));
    const auto all = finish(schedules().list_schedules());
    BOOST_TEST_REQUIRE(all.size() == 2u);
    BOOST_TEST(all[0].name == "another");  // by name
    BOOST_TEST(all[1].name == "digest");
    // In brief: the paused one's tick (t0 + 2000) is not the next; another's (t0 + 5000) is.
    const auto summary = finish(schedules().summarize_schedules());
    BOOST_TEST(summary.total == 2u);
    BOOST_TEST(summary.paused == 1u);
    BOOST_TEST(summary.next_run_at.value() == t0 + 5'000);

    BOOST_TEST(finish(schedules().delete_schedule("digest")));
    BOOST_TEST(!finish(schedules().delete_schedule("digest")));
    BOOST_TEST(!finish(schedules().get_schedule("digest")).has_value());
}

JOBQ_STORE_CONTRACT_TEST(firing_stores_each_ticks_job_and_advances_the_schedule_together) {
    finish(schedules().put_schedule(digest(t0 + 1'000)));
    const auto fired =
        finish(schedules().fire_schedule("digest", 0, t0 + 1'000, {t0 + 1'000, t0 + 2'000}, t0 + 3'000, t0 + 2'500));
    BOOST_TEST_REQUIRE(fired.has_value());
    BOOST_TEST_REQUIRE(fired->jobs.size() == 2u);
    BOOST_TEST(fired->created == 2u);
    const auto first = get(fired->jobs[0]);
    BOOST_TEST(first.idempotency_key.value() == "schedule:digest:" + std::to_string(t0 + 1'000));
    BOOST_TEST(first.type == "noop");
    BOOST_TEST(first.queue == "mail");
    BOOST_TEST(first.priority == 3);
    BOOST_TEST(first.max_retries == 5);
    BOOST_TEST(first.payload == R"({"sleep_ms":1})");
    BOOST_TEST(get(fired->jobs[1]).idempotency_key.value() == "schedule:digest:" + std::to_string(t0 + 2'000));
    const auto advanced = finish(schedules().get_schedule("digest")).value();
    BOOST_TEST(advanced.next_run_at.value() == t0 + 3'000);
    BOOST_TEST(advanced.last_run_at.value() == t0 + 2'000);
    BOOST_TEST(advanced.last_job_id.value() == fired->jobs[1]);

    // A second fire from the old position is refused: the schedule has moved on.
    BOOST_TEST(!finish(schedules().fire_schedule("digest", 0, t0 + 1'000, {t0 + 1'000}, t0 + 3'000, t0 + 2'600)));
    // No tick's job twice, even fired again from a schedule put back where it was (paused,
    // then resumed at that tick).
    auto paused = digest(t0 + 2'000);
    paused.paused = true;
    finish(schedules().put_schedule(paused));
    finish(schedules().put_schedule(digest(t0 + 2'000)));
    const auto resumed = finish(schedules().get_schedule("digest")).value();
    BOOST_TEST(resumed.next_run_at.value() == t0 + 2'000);
    const auto again =
        finish(schedules().fire_schedule("digest", resumed.revision, t0 + 2'000, {t0 + 2'000}, t0 + 3'000, t0 + 2'700));
    BOOST_TEST_REQUIRE(again.has_value());
    BOOST_TEST(again->jobs.at(0) == fired->jobs[1]);
    BOOST_TEST(again->created == 0u);
    BOOST_TEST(claim(10).size() == 2u);
}

JOBQ_STORE_CONTRACT_TEST(putting_the_same_timing_again_keeps_the_ticks_and_refuses_older_plans) {
    finish(schedules().put_schedule(digest(t0 + 1'000)));
    const auto before = finish(schedules().get_schedule("digest")).value();
    // The same cron and zone, another template and a later next tick: the ticks stay.
    auto same = digest(t0 + 5'000);
    same.anchor = t0 + 4'000;
    same.job.priority = 9;
    BOOST_TEST(!finish(schedules().put_schedule(same)));
    const auto kept = finish(schedules().get_schedule("digest")).value();
    BOOST_TEST(kept.next_run_at.value() == t0 + 1'000);
    BOOST_TEST(kept.anchor == t0);
    BOOST_TEST(kept.job.priority == 9);
    BOOST_TEST(kept.revision > before.revision);
    // A firing planned from the older version is refused, though the tick is the same.
    BOOST_TEST(!finish(schedules().fire_schedule("digest", before.revision, t0 + 1'000, {t0 + 1'000}, t0 + 2'000, t0 + 1'000)));
    BOOST_TEST(finish(schedules().fire_schedule("digest", kept.revision, t0 + 1'000, {t0 + 1'000}, t0 + 2'000, t0 + 1'000)).has_value());
    BOOST_TEST(get(claim(1).at(0).id).priority == 9);  // the template the tick fired with

    // Another timing starts over.
    auto other = digest(t0 + 7'000);
    other.cron = "0 8 * * *";
    other.anchor = t0 + 6'000;
    finish(schedules().put_schedule(other));
    const auto changed = finish(schedules().get_schedule("digest")).value();
    BOOST_TEST(changed.next_run_at.value() == t0 + 7'000);
    BOOST_TEST(changed.anchor == t0 + 6'000);
}

JOBQ_STORE_CONTRACT_TEST(firing_nothing_still_advances_and_a_paused_or_missing_schedule_is_left_alone) {
    finish(schedules().put_schedule(digest(t0 + 1'000)));
    const auto skipped = finish(schedules().fire_schedule("digest", 0, t0 + 1'000, {}, t0 + 9'000, t0 + 5'000));
    BOOST_TEST_REQUIRE(skipped.has_value());
    BOOST_TEST(skipped->jobs.empty());
    const auto after = finish(schedules().get_schedule("digest")).value();
    BOOST_TEST(after.next_run_at.value() == t0 + 9'000);
    BOOST_TEST(!after.last_run_at.has_value());

    auto paused = digest(t0 + 9'000);
    paused.paused = true;
    finish(schedules().put_schedule(paused));
    const auto revision = finish(schedules().get_schedule("digest")).value().revision;
    BOOST_TEST(!finish(schedules().fire_schedule("digest", revision, t0 + 9'000, {t0 + 9'000}, t0 + 10'000, t0 + 9'500)));
    BOOST_TEST(!finish(schedules().fire_schedule("nobody", 0, t0, {t0}, t0 + 1, t0)));
    BOOST_TEST(claim(10).empty());
}

JOBQ_STORE_CONTRACT_TEST(schedules_survive_a_restart) {
    finish(schedules().put_schedule(digest(t0 + 1'000)));
    finish(schedules().fire_schedule("digest", 0, t0 + 1'000, {t0 + 1'000}, t0 + 2'000, t0 + 1'000));
    sut->reopen();
    const auto stored = finish(schedules().get_schedule("digest"));
    BOOST_TEST_REQUIRE(stored.has_value());
    BOOST_TEST(stored->next_run_at.value() == t0 + 2'000);
    BOOST_TEST(stored->last_run_at.value() == t0 + 1'000);
}

BOOST_AUTO_TEST_SUITE_END()
