#include "core/schedule.hpp"

#include <boost/test/unit_test.hpp>

#include <string>
#include <vector>

using namespace jobq::core;

namespace {

millis at(const std::string& rfc3339) {
    const auto t = parse_rfc3339(rfc3339);
    BOOST_TEST_REQUIRE(t.has_value(), rfc3339);
    return *t;
}

cron::Expression expression(const std::string& text) {
    auto parsed = cron::parse(text);
    BOOST_TEST_REQUIRE(parsed.has_value(), text);
    return *parsed;
}

const date::time_zone& utc() { return *cron::find_zone("UTC"); }

std::vector<std::string> formatted(const std::vector<millis>& ticks) {
    std::vector<std::string> out;
    for (const auto t : ticks) out.push_back(format_rfc3339(t));
    return out;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(schedule_ticks)

BOOST_AUTO_TEST_CASE(the_tick_key_names_the_schedule_and_the_tick_in_unix_ms) {
    BOOST_TEST(tick_key("digest", 1'785'000'000'000) == "schedule:digest:1785000000000");
}

BOOST_AUTO_TEST_CASE(catch_up_policies_are_named) {
    BOOST_TEST((parse_catch_up("none") == CatchUp::none));
    BOOST_TEST((parse_catch_up("latest") == CatchUp::latest));
    BOOST_TEST((parse_catch_up("all") == CatchUp::all));
    BOOST_TEST(!parse_catch_up("some").has_value());
    BOOST_TEST(to_string(CatchUp::all) == "all");
}

BOOST_AUTO_TEST_CASE(nothing_fires_before_the_next_tick) {
    const auto plan = plan_ticks(expression("0 * * * *"), utc(), 0, at("2026-01-01T01:00:00Z"),
                                 at("2026-01-01T00:59:59.999Z"), CatchUp::all, at("2026-01-01T00:30:00Z"));
    BOOST_TEST(plan.fire.empty());
    BOOST_TEST(*plan.next_run_at == at("2026-01-01T01:00:00Z"));
}

BOOST_AUTO_TEST_CASE(ticks_while_running_all_fire_whatever_the_policy) {
    // The scheduler last looked at 00:59:59; it wakes late, at 03:00:30 (a stalled machine).
    for (const auto policy : {CatchUp::none, CatchUp::latest, CatchUp::all}) {
        const auto plan = plan_ticks(expression("0 * * * *"), utc(), 0, at("2026-01-01T01:00:00Z"),
                                     at("2026-01-01T03:00:30Z"), policy, at("2026-01-01T00:59:59Z"));
        BOOST_TEST((formatted(plan.fire) == std::vector<std::string>{"2026-01-01T01:00:00.000Z",
                                                                     "2026-01-01T02:00:00.000Z",
                                                                     "2026-01-01T03:00:00.000Z"}),
                   to_string(policy));
        BOOST_TEST(*plan.next_run_at == at("2026-01-01T04:00:00Z"));
    }
}

// Down from 00:30 to 03:30 (an injected clock: the start-up at 03:30 sees every earlier
// tick as missed).
BOOST_AUTO_TEST_CASE(a_three_hour_outage_under_each_policy) {
    const auto hourly = expression("0 * * * *");
    const millis next = at("2026-01-01T01:00:00Z");
    const millis restart = at("2026-01-01T03:30:00Z");
    const auto none = plan_ticks(hourly, utc(), 0, next, restart, CatchUp::none, restart);
    BOOST_TEST(none.fire.empty());
    BOOST_TEST(*none.next_run_at == at("2026-01-01T04:00:00Z"));
    const auto latest = plan_ticks(hourly, utc(), 0, next, restart, CatchUp::latest, restart);
    BOOST_TEST((formatted(latest.fire) == std::vector<std::string>{"2026-01-01T03:00:00.000Z"}));
    BOOST_TEST(*latest.next_run_at == at("2026-01-01T04:00:00Z"));
    const auto all = plan_ticks(hourly, utc(), 0, next, restart, CatchUp::all, restart);
    BOOST_TEST((formatted(all.fire) == std::vector<std::string>{"2026-01-01T01:00:00.000Z",
                                                                "2026-01-01T02:00:00.000Z",
                                                                "2026-01-01T03:00:00.000Z"}));
    BOOST_TEST(*all.next_run_at == at("2026-01-01T04:00:00Z"));
}

BOOST_AUTO_TEST_CASE(catching_up_fires_at_most_the_last_thousand_ticks) {
    // Every second, anchored at midnight, down for three hours: 10,800 missed ticks.
    const millis anchor = at("2026-01-01T00:00:00Z");
    const millis restart = at("2026-01-01T03:00:00.500Z");
    const auto all = plan_ticks(expression("@every 1s"), utc(), anchor, anchor + 1'000, restart, CatchUp::all, restart);
    BOOST_TEST_REQUIRE(all.fire.size() == max_catch_up_ticks);
    BOOST_TEST(all.fire.back() == at("2026-01-01T03:00:00Z"));
    BOOST_TEST(all.fire.front() == at("2026-01-01T02:43:21Z"));
    BOOST_TEST(std::is_sorted(all.fire.begin(), all.fire.end()));
    BOOST_TEST(*all.next_run_at == at("2026-01-01T03:00:01Z"));
    // Latest, after a month down of a schedule every minute: one tick, found without
    // walking the month.
    const auto latest = plan_ticks(expression("* * * * *"), utc(), 0, at("2026-01-01T00:01:00Z"),
                                   at("2026-02-01T00:00:30Z"), CatchUp::latest, at("2026-02-01T00:00:30Z"));
    BOOST_TEST((formatted(latest.fire) == std::vector<std::string>{"2026-02-01T00:00:00.000Z"}));
}

BOOST_AUTO_TEST_CASE(missed_and_on_time_ticks_together) {
    // Down until 02:30, then running: looked at 02:30, wakes at 04:00.
    const auto plan = plan_ticks(expression("0 * * * *"), utc(), 0, at("2026-01-01T01:00:00Z"),
                                 at("2026-01-01T04:00:00Z"), CatchUp::latest, at("2026-01-01T02:30:00Z"));
    BOOST_TEST((formatted(plan.fire) == std::vector<std::string>{"2026-01-01T02:00:00.000Z",
                                                                 "2026-01-01T03:00:00.000Z",
                                                                 "2026-01-01T04:00:00.000Z"}));
}

BOOST_AUTO_TEST_SUITE_END()
