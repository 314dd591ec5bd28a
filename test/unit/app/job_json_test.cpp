#include "app/job_json.hpp"

#include "handlers/noop.hpp"

#include <boost/json/parse.hpp>
#include <boost/test/unit_test.hpp>

using namespace jobq;

namespace {

constexpr core::millis now = 1'800'000'000'000;

struct Registry {
    Registry() { handlers.add(std::make_unique<handlers::NoopHandler>()); }
    core::HandlerRegistry handlers;

    core::JobSpec ok(std::string_view body) {
        auto r = app::parse_job_spec(body, handlers, now);
        BOOST_TEST_REQUIRE(r.has_value(), body);
        return *r;
    }
    core::Error bad(std::string_view body) {
        auto r = app::parse_job_spec(body, handlers, now);
        BOOST_TEST_REQUIRE(r.has_error(), body);
        return r.error();
    }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(job_json)

BOOST_FIXTURE_TEST_CASE(minimal_job_gets_defaults, Registry) {
    const auto spec = ok(R"({"type":"noop","payload":{}})");
    BOOST_TEST(spec.type == "noop");
    BOOST_TEST(spec.payload == "{}");
    BOOST_TEST(spec.queue == "default");
    BOOST_TEST(spec.priority == 0);
    BOOST_TEST(spec.max_retries == 3);
    BOOST_TEST(spec.run_at == now);
    BOOST_TEST(!spec.idempotency_key.has_value());
}

BOOST_FIXTURE_TEST_CASE(every_field, Registry) {
    const auto spec = ok(R"({"type":"noop","payload":{"sleep_ms":5},"max_retries":0,"queue":"q","priority":-3,
                              "idempotency_key":"abc","run_at":"2027-01-01T00:00:00Z"})");
    BOOST_TEST(spec.max_retries == 0);
    BOOST_TEST(spec.queue == "q");
    BOOST_TEST(spec.priority == -3);
    BOOST_TEST(spec.idempotency_key.value() == "abc");
    BOOST_TEST(spec.run_at == core::parse_rfc3339("2027-01-01T00:00:00Z").value());
    BOOST_TEST(ok(R"({"type":"noop","payload":{},"delay_ms":1500})").run_at == now + 1'500);
}

BOOST_FIXTURE_TEST_CASE(rejections_carry_a_code, Registry) {
    BOOST_TEST(bad("not json").name == "invalid_json");
    BOOST_TEST(bad("[1]").name == "invalid_json");
    BOOST_TEST(bad(R"({"payload":{}})").name == "missing_field");
    BOOST_TEST(bad(R"({"type":"noop"})").name == "missing_field");
    BOOST_TEST(bad(R"({"type":"fax","payload":{}})").name == "unknown_type");
    BOOST_TEST(bad(R"({"type":"noop","payload":{},"colour":"red"})").name == "unknown_field");
    BOOST_TEST(bad(R"({"type":7,"payload":{}})").name == "invalid_field");
    BOOST_TEST(bad(R"({"type":"noop","payload":{},"max_retries":1001})").name == "invalid_field");
    BOOST_TEST(bad(R"({"type":"noop","payload":{},"max_retries":-1})").name == "invalid_field");
    BOOST_TEST(bad(R"({"type":"noop","payload":{},"max_retries":"3"})").name == "invalid_field");
    BOOST_TEST(bad(R"({"type":"noop","payload":{},"max_retries":1.5})").name == "invalid_field");
    BOOST_TEST(bad(R"({"type":"noop","payload":{},"max_retries":18446744073709551615})").name == "invalid_field");
    BOOST_TEST(bad(R"({"type":"noop","payload":{},"run_at":"soon"})").name == "invalid_field");
    BOOST_TEST(bad(R"({"type":"noop","payload":{},"run_at":"2027-01-01T00:00:00Z","delay_ms":5})").name == "invalid_field");
    BOOST_TEST(bad(R"({"type":"noop","payload":{},"queue":""})").name == "invalid_field");
    BOOST_TEST(bad(R"({"type":"noop","payload":{"sleep_ms":60001}})").name == "invalid_payload");
    BOOST_TEST(bad(R"({"type":"noop","payload":{"fail":"sometimes"}})").name == "invalid_payload");
    BOOST_TEST(bad(R"({"type":"noop","payload":[]})").name == "invalid_payload");
    BOOST_TEST(bad(R"({"type":"noop","payload":{}})" "\xff").name == "invalid_json");
    BOOST_TEST(bad(std::string(100, '[') + std::string(100, ']')).name == "invalid_json");  // deeper than 64
}

BOOST_AUTO_TEST_CASE(job_renders_times_as_rfc3339) {
    core::Job job;
    job.id = 9;
    job.type = "noop";
    job.queue = "default";
    job.payload = R"({"x":1})";
    job.state = core::JobState::done;
    job.run_at = 0;
    job.created_at = 0;
    job.finished_at = 1'000;
    const auto o = boost::json::parse(app::job_to_json(job)).as_object();
    BOOST_TEST(o.at("state").as_string() == "done");
    BOOST_TEST(o.at("run_at").as_string() == "1970-01-01T00:00:00.000Z");
    BOOST_TEST(o.at("finished_at").as_string() == "1970-01-01T00:00:01.000Z");
    BOOST_TEST(o.at("started_at").is_null());
    BOOST_TEST(o.at("payload").at("x").as_int64() == 1);
}

BOOST_AUTO_TEST_SUITE_END()
