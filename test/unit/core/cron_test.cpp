#include "core/cron.hpp"
#include "core/duration.hpp"

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

// The tick after `from` in `zone`, as RFC 3339 UTC; "none" when there is none.
std::string next(const std::string& expression, const std::string& from, const std::string& zone = "UTC",
                 millis anchor = 0) {
    const auto parsed = cron::parse(expression);
    BOOST_TEST_REQUIRE(parsed.has_value(), expression << ": " << (parsed ? "" : parsed.error().message));
    const auto* tz = cron::find_zone(zone);
    BOOST_TEST_REQUIRE(tz != nullptr, zone);
    const auto tick = cron::next_tick(*parsed, *tz, at(from), anchor);
    return tick ? format_rfc3339(*tick) : "none";
}

// The ticks after `from`, `count` of them, each from the one before.
std::vector<std::string> ticks(const std::string& expression, const std::string& from, const std::string& zone,
                               int count) {
    std::vector<std::string> out;
    std::string t = from;
    for (int i = 0; i < count; ++i) out.push_back(t = next(expression, t, zone));
    return out;
}

std::string error_of(const std::string& expression) {
    const auto parsed = cron::parse(expression);
    BOOST_TEST_REQUIRE(!parsed.has_value(), expression << " was accepted");
    BOOST_TEST(parsed.error().code == make_error_code(errc::invalid));
    return parsed.error().message;
}

struct Case {
    std::string expression;
    std::string from;
    std::string expected;
};

}  // namespace

BOOST_AUTO_TEST_SUITE(cron_expressions)

// 2026-01-01 is a Thursday; 2028 is a leap year.
BOOST_AUTO_TEST_CASE(next_ticks_in_utc) {
    const std::vector<Case> cases = {
        {"* * * * *", "2026-01-01T00:00:00Z", "2026-01-01T00:01:00.000Z"},
        {"* * * * *", "2026-01-01T00:00:30Z", "2026-01-01T00:01:00.000Z"},
        {"*/1 * * * *", "2026-01-01T00:00:59.999Z", "2026-01-01T00:01:00.000Z"},
        {"0 * * * *", "2026-01-01T00:00:00Z", "2026-01-01T01:00:00.000Z"},
        {"*/15 * * * *", "2026-01-01T00:07:00Z", "2026-01-01T00:15:00.000Z"},
        {"*/15 * * * *", "2026-01-01T00:45:00Z", "2026-01-01T01:00:00.000Z"},
        {"5,10,50 * * * *", "2026-01-01T00:10:00Z", "2026-01-01T00:50:00.000Z"},
        {"10-12 * * * *", "2026-01-01T00:12:00Z", "2026-01-01T01:10:00.000Z"},
        {"5/20 * * * *", "2026-01-01T00:26:00Z", "2026-01-01T00:45:00.000Z"},
        {"0 */6 * * *", "2026-01-01T01:00:00Z", "2026-01-01T06:00:00.000Z"},
        {"0 9 * * *", "2026-01-01T10:00:00Z", "2026-01-02T09:00:00.000Z"},
        {"30 2 * * *", "2026-01-01T02:30:00Z", "2026-01-02T02:30:00.000Z"},
        {"0,30 9-17 * * 1-5", "2026-01-02T17:30:00Z", "2026-01-05T09:00:00.000Z"},
        {"15 14 1 * *", "2026-01-01T14:15:00Z", "2026-02-01T14:15:00.000Z"},
        {"0 0 1 * *", "2026-01-15T00:00:00Z", "2026-02-01T00:00:00.000Z"},
        // Month ends: months without the day are passed over.
        {"0 0 31 * *", "2026-01-31T00:00:00Z", "2026-03-31T00:00:00.000Z"},
        {"0 0 30 * *", "2026-01-30T12:00:00Z", "2026-03-30T00:00:00.000Z"},
        {"0 0 31 1-12 *", "2026-04-01T00:00:00Z", "2026-05-31T00:00:00.000Z"},
        {"0 0 28-31 2 *", "2026-02-28T00:00:00Z", "2027-02-28T00:00:00.000Z"},
        {"59 23 31 12 *", "2026-12-31T23:58:00Z", "2026-12-31T23:59:00.000Z"},
        {"0 0 1 1 *", "2026-12-31T23:59:59Z", "2027-01-01T00:00:00.000Z"},
        // February 29.
        {"0 0 29 2 *", "2026-01-01T00:00:00Z", "2028-02-29T00:00:00.000Z"},
        {"0 0 29 feb *", "2028-02-29T00:00:00Z", "2032-02-29T00:00:00.000Z"},
        // Weekdays: numbers, 7 for Sunday, names, ranges, lists.
        {"0 0 * * mon", "2026-01-01T00:00:00Z", "2026-01-05T00:00:00.000Z"},
        {"0 0 * * 1-5", "2026-01-02T00:00:00Z", "2026-01-05T00:00:00.000Z"},
        {"0 0 * * 0", "2026-01-01T00:00:00Z", "2026-01-04T00:00:00.000Z"},
        {"0 0 * * 7", "2026-01-01T00:00:00Z", "2026-01-04T00:00:00.000Z"},
        {"0 0 * * sat,sun", "2026-01-01T00:00:00Z", "2026-01-03T00:00:00.000Z"},
        {"0 0 * * MON-FRI", "2026-01-03T00:00:00Z", "2026-01-05T00:00:00.000Z"},
        {"0 12 * jan-mar mon", "2026-03-30T12:00:00Z", "2027-01-04T12:00:00.000Z"},
        // Months: names, steps, lists, stepped ranges.
        {"0 0 1 */3 *", "2026-01-01T00:00:00Z", "2026-04-01T00:00:00.000Z"},
        {"0 0 1 jan,jul *", "2026-02-01T00:00:00Z", "2026-07-01T00:00:00.000Z"},
        {"0 0 1 feb-apr/2 *", "2026-02-01T00:00:00Z", "2026-04-01T00:00:00.000Z"},
        // Day of month and day of week both restricted: either matches.
        {"0 0 13 * fri", "2026-01-01T00:00:00Z", "2026-01-02T00:00:00.000Z"},
        {"0 0 13 * fri", "2026-01-10T00:00:00Z", "2026-01-13T00:00:00.000Z"},
        {"0 0 1-7 * mon", "2026-01-01T00:00:00Z", "2026-01-02T00:00:00.000Z"},
        // One of them begins with '*': both must match.
        {"0 0 */2 * *", "2026-01-01T00:00:00Z", "2026-01-03T00:00:00.000Z"},
        {"0 0 */2 * mon", "2026-01-01T00:00:00Z", "2026-01-05T00:00:00.000Z"},
        {"0 0 */2 * tue", "2026-01-01T00:00:00Z", "2026-01-13T00:00:00.000Z"},
        // Macros.
        {"@hourly", "2026-01-01T00:30:00Z", "2026-01-01T01:00:00.000Z"},
        {"@daily", "2026-01-01T00:00:00Z", "2026-01-02T00:00:00.000Z"},
        {"@midnight", "2026-01-01T12:00:00Z", "2026-01-02T00:00:00.000Z"},
        {"@weekly", "2026-01-01T00:00:00Z", "2026-01-04T00:00:00.000Z"},
        {"@monthly", "2026-01-01T00:00:00Z", "2026-02-01T00:00:00.000Z"},
        {"@yearly", "2026-01-01T00:00:00Z", "2027-01-01T00:00:00.000Z"},
        {"@annually", "2026-06-01T00:00:00Z", "2027-01-01T00:00:00.000Z"},
        {"  0   0 * *   *  ", "2026-01-01T00:00:00Z", "2026-01-02T00:00:00.000Z"},
    };
    BOOST_TEST(cases.size() >= 40u);
    for (const auto& c : cases) BOOST_TEST(next(c.expression, c.from) == c.expected, c.expression << " after " << c.from);
}

BOOST_AUTO_TEST_CASE(bad_expressions_say_where) {
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"", "expected 5 fields"},
        {"* * * *", "found 4"},
        {"* * * * * *", "found 6"},
        {"60 * * * *", "minute: 60 is out of range 0-59"},
        {"* 24 * * *", "hour: 24 is out of range 0-23"},
        {"* * 0 * *", "day of month: 0 is out of range 1-31"},
        {"* * * 13 *", "month: 13 is out of range 1-12"},
        {"* * * * 8", "day of week: 8 is out of range 0-7"},
        {"*/0 * * * *", "minute: '*/0' has a step"},
        {"5-1 * * * *", "ends before it begins"},
        {"* * * foo *", "month: 'foo' is not a number or a name"},
        {"x * * * *", "minute: 'x' is not a number"},
        {"1,,2 * * * *", "minute: an empty item"},
        {"0 0 31 2 *", "would never fire"},
        {"0 0 31 4,6,9,11 *", "would never fire"},
        {"@often", "unknown '@often'"},
        {"@every 500ms", "at least 1s"},
        {"@every soon", "not a duration"},
        {"@every", "@every: give one duration"},
        {"1/2147483647 * * * *", "minute: '1/2147483647' has a step larger than the field's range"},
        {"*/61 * * * *", "step larger"},
        {"@every 3661d", "ten years at most"},
        {"@every 9223372036854775807ms", "not a duration"},
        {"@every 3000d3000d", "ten years at most"},
        {"@every 1m 2m", "@every: give one duration"},
    };
    for (const auto& [expression, says] : cases) {
        const auto message = error_of(expression);
        BOOST_TEST(message.find(says) != std::string::npos, expression << ": " << message);
    }
}

BOOST_AUTO_TEST_CASE(durations_are_numbers_of_milliseconds_or_parts_with_units) {
    BOOST_TEST(parse_duration_ms("1500").value() == 1'500);
    BOOST_TEST(parse_duration_ms("250ms").value() == 250);
    BOOST_TEST(parse_duration_ms("90s").value() == 90'000);
    BOOST_TEST(parse_duration_ms("1h30m").value() == 5'400'000);
    BOOST_TEST(parse_duration_ms("1m30s5ms").value() == 90'005);
    BOOST_TEST(parse_duration_ms("2d").value() == 172'800'000);
    BOOST_TEST(parse_duration_ms("0").value() == 0);
    for (const char* bad : {"", "s", "5x", "-5s", "1h30", "5 s", "1.5s", "99999999999999999999"})
        BOOST_TEST(!parse_duration_ms(bad).has_value(), bad);
    BOOST_TEST(!parse_duration_ms("11s", 10'000).has_value());  // beyond the bound given
    BOOST_TEST(parse_duration_ms("10s", 10'000).value() == 10'000);
}

BOOST_AUTO_TEST_CASE(rare_expressions_are_found_years_ahead) {
    // The 1st of February when it is a Monday (day of month begins with '*': both must
    // match): 2027, then 2038.
    BOOST_TEST(next("0 0 */31 2 mon", "2027-02-01T00:00:00Z") == "2038-02-01T00:00:00.000Z");
    BOOST_TEST(next("@every 3660d", "2026-01-01T00:00:00Z") != "none");
}

BOOST_AUTO_TEST_CASE(every_ticks_one_interval_after_its_anchor) {
    const millis anchor = at("2026-01-01T00:00:00Z");
    BOOST_TEST(next("@every 90s", "2026-01-01T00:00:00Z", "UTC", anchor) == "2026-01-01T00:01:30.000Z");
    BOOST_TEST(next("@every 90s", "2026-01-01T00:01:29.999Z", "UTC", anchor) == "2026-01-01T00:01:30.000Z");
    BOOST_TEST(next("@every 90s", "2026-01-01T00:01:30Z", "UTC", anchor) == "2026-01-01T00:03:00.000Z");
    BOOST_TEST(next("@every 1h30m", "2026-01-01T00:00:00Z", "UTC", anchor) == "2026-01-01T01:30:00.000Z");
    BOOST_TEST(next("@every 1s", "2025-12-31T00:00:00Z", "UTC", anchor) == "2026-01-01T00:00:01.000Z");
    // Real time: the same in any zone, across a DST change.
    BOOST_TEST(next("@every 1h", "2026-03-29T00:30:00Z", "Europe/Berlin", at("2026-03-29T00:30:00Z")) ==
               "2026-03-29T01:30:00.000Z");
}

BOOST_AUTO_TEST_CASE(zones_are_found_by_their_iana_names) {
    BOOST_TEST(cron::find_zone("Europe/Berlin") != nullptr);
    BOOST_TEST(cron::find_zone("UTC") != nullptr);
    BOOST_TEST(cron::find_zone("Mars/Olympus_Mons") == nullptr);
    BOOST_TEST(cron::find_zone("") == nullptr);
}

// Berlin, 2026: CET -> CEST on March 29 at 02:00 (01:00 UTC); back on October 25 at 03:00
// CEST (01:00 UTC).
BOOST_AUTO_TEST_CASE(berlin_across_the_2026_changes) {
    const std::string berlin = "Europe/Berlin";
    BOOST_TEST(next("0 9 * * *", "2026-03-28T12:00:00Z", berlin) == "2026-03-29T07:00:00.000Z");  // CEST
    BOOST_TEST(next("0 9 * * *", "2026-03-27T12:00:00Z", berlin) == "2026-03-28T08:00:00.000Z");  // CET
    // 02:30 does not exist on March 29: once, at the first instant after the gap.
    BOOST_TEST((ticks("30 2 * * *", "2026-03-28T12:00:00Z", berlin, 2) ==
                std::vector<std::string>{"2026-03-29T01:00:00.000Z", "2026-03-30T00:30:00.000Z"}));
    // Hourly stays hourly over the gap.
    BOOST_TEST((ticks("0 * * * *", "2026-03-28T23:30:00Z", berlin, 3) ==
                std::vector<std::string>{"2026-03-29T00:00:00.000Z", "2026-03-29T01:00:00.000Z",
                                         "2026-03-29T02:00:00.000Z"}));
    // 02:30 happens twice on October 25: a named hour fires once, at the first.
    BOOST_TEST((ticks("30 2 * * *", "2026-10-24T12:00:00Z", berlin, 2) ==
                std::vector<std::string>{"2026-10-25T00:30:00.000Z", "2026-10-26T01:30:00.000Z"}));
    // A step or `*` in the hour fires at every real instant it matches.
    BOOST_TEST((ticks("*/30 * * * *", "2026-10-25T00:00:00Z", berlin, 4) ==
                std::vector<std::string>{"2026-10-25T00:30:00.000Z", "2026-10-25T01:00:00.000Z",
                                         "2026-10-25T01:30:00.000Z", "2026-10-25T02:00:00.000Z"}));
    BOOST_TEST((ticks("0 * * * *", "2026-10-24T23:30:00Z", berlin, 3) ==
                std::vector<std::string>{"2026-10-25T00:00:00.000Z", "2026-10-25T01:00:00.000Z",
                                         "2026-10-25T02:00:00.000Z"}));
}

// New York, 2026: EST -> EDT on March 8 at 02:00 (07:00 UTC); back on November 1 at 02:00
// EDT (06:00 UTC).
BOOST_AUTO_TEST_CASE(new_york_across_the_2026_changes) {
    const std::string new_york = "America/New_York";
    BOOST_TEST(next("0 9 * * *", "2026-03-06T15:00:00Z", new_york) == "2026-03-07T14:00:00.000Z");  // EST
    BOOST_TEST(next("0 9 * * *", "2026-03-08T07:00:00Z", new_york) == "2026-03-08T13:00:00.000Z");  // EDT
    BOOST_TEST(next("30 2 * * *", "2026-03-07T12:00:00Z", new_york) == "2026-03-08T07:00:00.000Z");
    BOOST_TEST(next("30 2 * * *", "2026-03-08T07:00:00Z", new_york) == "2026-03-09T06:30:00.000Z");
    // 01:30 twice on November 1: once, at the first (EDT).
    BOOST_TEST((ticks("30 1 * * *", "2026-10-31T12:00:00Z", new_york, 2) ==
                std::vector<std::string>{"2026-11-01T05:30:00.000Z", "2026-11-02T06:30:00.000Z"}));
    // A named hour with stepped minutes: the first 01:xx only.
    BOOST_TEST((ticks("*/20 1 * * *", "2026-11-01T05:00:00Z", new_york, 3) ==
                std::vector<std::string>{"2026-11-01T05:20:00.000Z", "2026-11-01T05:40:00.000Z",
                                         "2026-11-02T06:00:00.000Z"}));
    // Hourly: from 01:30 EDT the next real hour is 01:00 EST, a wall time already passed.
    BOOST_TEST((ticks("0 * * * *", "2026-11-01T05:30:00Z", new_york, 2) ==
                std::vector<std::string>{"2026-11-01T06:00:00.000Z", "2026-11-01T07:00:00.000Z"}));
}

BOOST_AUTO_TEST_SUITE_END()
