#include "app/json_text.hpp"

#include <boost/json/parse.hpp>
#include <boost/test/unit_test.hpp>

#include <string>

namespace json = boost::json;
using namespace jobq;

namespace {

std::string quoted(std::string_view text) {
    std::string out;
    app::append_json_string(out, text);
    return out;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(json_text)

BOOST_AUTO_TEST_CASE(escapes_what_json_requires_and_nothing_else) {
    BOOST_TEST(quoted("plain") == R"("plain")");
    BOOST_TEST(quoted(R"(say "hi" \ bye)") == R"("say \"hi\" \\ bye")");
    BOOST_TEST(quoted("a\nb\tc\r\b\f") == R"("a\nb\tc\r\b\f")");
    BOOST_TEST(quoted(std::string("\x01\x1f", 2)) == R"("\u0001\u001f")");
    BOOST_TEST(quoted("h\xc3\xa9llo \xe2\x82\xac") == "\"h\xc3\xa9llo \xe2\x82\xac\"");  // UTF-8 kept as is
    BOOST_TEST(quoted("") == R"("")");
}

BOOST_AUTO_TEST_CASE(every_byte_below_0x20_round_trips_through_a_json_parser) {
    std::string all;
    for (int c = 0; c < 0x20; ++c) all += static_cast<char>(c);
    all += "\"\\/ end";
    BOOST_TEST(json::parse(quoted(all)).as_string() == all);
}

BOOST_AUTO_TEST_CASE(object_writer_builds_a_parseable_object) {
    std::string out;
    app::JsonObjectWriter(out)
        .integer("n", -42)
        .string("s", "x\"y")
        .string_or_null("missing", std::nullopt)
        .time_or_null("t", 1'000)
        .time_or_null("never", std::nullopt)
        .raw("payload", R"({"a":[1,2]})")
        .close();
    const auto o = json::parse(out).as_object();
    BOOST_TEST(o.at("n").as_int64() == -42);
    BOOST_TEST(o.at("s").as_string() == "x\"y");
    BOOST_TEST(o.at("missing").is_null());
    BOOST_TEST(o.at("t").as_string() == "1970-01-01T00:00:01.000Z");
    BOOST_TEST(o.at("never").is_null());
    BOOST_TEST(o.at("payload").at("a").as_array().size() == 2u);
}

BOOST_AUTO_TEST_CASE(an_empty_object_is_braces) {
    std::string out;
    app::JsonObjectWriter(out).close();
    BOOST_TEST(out == "{}");
}

BOOST_AUTO_TEST_SUITE_END()
