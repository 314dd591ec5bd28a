#include "core/clock.hpp"

#include <boost/test/unit_test.hpp>

using namespace jobq::core;

BOOST_AUTO_TEST_SUITE(rfc3339_clock)

BOOST_AUTO_TEST_CASE(formats_utc_with_milliseconds) {
    BOOST_TEST(format_rfc3339(0) == "1970-01-01T00:00:00.000Z");
    BOOST_TEST(format_rfc3339(1'795'841'459'123) == "2026-11-28T04:50:59.123Z");
    BOOST_TEST(format_rfc3339(951'782'400'000) == "2000-02-29T00:00:00.000Z");
    BOOST_TEST(format_rfc3339(-1) == "1969-12-31T23:59:59.999Z");
}

// The job JSON writes timestamps into a response already holding text.
BOOST_AUTO_TEST_CASE(appends_after_what_the_string_holds) {
    std::string out = R"({"created_at":")";
    append_rfc3339(out, 1'795'841'459'123);
    BOOST_TEST(out == R"({"created_at":"2026-11-28T04:50:59.123Z)");
    append_rfc3339(out, 253'402'300'800'000);  // year 10000: the other path
    BOOST_TEST(out == R"({"created_at":"2026-11-28T04:50:59.123Z10000-01-01T00:00:00.000Z)");
}

BOOST_AUTO_TEST_CASE(parses_what_it_formats) {
    for (const millis t : {millis{0}, millis{1'795'841'459'123}, millis{951'782'400'000}, millis{4'102'444'799'999}})
        BOOST_TEST(parse_rfc3339(format_rfc3339(t)).value() == t);
}

BOOST_AUTO_TEST_CASE(applies_offsets_and_fractions) {
    BOOST_TEST(parse_rfc3339("2026-11-28T06:50:59+02:00").value() == 1'795'841'459'000);
    BOOST_TEST(parse_rfc3339("2026-11-28T04:50:59.5Z").value() == 1'795'841'459'500);
    BOOST_TEST(parse_rfc3339("2026-11-28t04:50:59.123456z").value() == 1'795'841'459'123);
    BOOST_TEST(parse_rfc3339("2026-11-27T23:50:59-05:00").value() == 1'795'841'459'000);
}

BOOST_AUTO_TEST_CASE(rejects_malformed_times) {
    for (const char* bad : {"", "2026-11-28", "2026-11-28T04:50:59", "2026-13-01T00:00:00Z", "2026-02-29T00:00:00Z",
                            "2026-11-28T24:00:00Z", "2026-11-28T04:50:59.Z", "2026-11-28T04:50:59Zjunk",
                            "tomorrow", "2026-11-28T04:50:59+0200"})
        BOOST_TEST(!parse_rfc3339(bad).has_value(), bad);
}

BOOST_AUTO_TEST_SUITE_END()
