// The HTTP API of the real build/jobq on a loopback port.

#include "server_fixture.hpp"
#include "wait.hpp"

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

using namespace jobq::test;
namespace json = boost::json;
using namespace std::chrono_literals;


BOOST_AUTO_TEST_SUITE(api)

BOOST_FIXTURE_TEST_CASE(healthz_answers, Server) {
    const auto r = get("/healthz");
    BOOST_TEST(r.status == 200);
    BOOST_TEST(r.headers.at("content-type") == "application/json");
}

BOOST_FIXTURE_TEST_CASE(post_jobs_answers_201_and_the_job_runs, Server) {
    const auto r = post("/jobs", R"({"type":"noop","payload":{"note":"hi"},"queue":"q1","priority":4})");
    BOOST_TEST_REQUIRE(r.status == 201, r.body);
    const auto created = json::parse(r.body).as_object();
    BOOST_TEST(created.at("state").as_string() == "queued");
    const auto id = created.at("id").as_int64();
    BOOST_TEST(wait_until([&] { return job(id).at("state").as_string() == "done"; }, 10s));
    const auto j = job(id);
    for (const char* field : {"id", "type", "queue", "priority", "state", "attempts", "max_retries", "payload", "run_at",
                              "last_error", "created_at", "started_at", "finished_at"})
        BOOST_TEST(j.contains(field), field);
    BOOST_TEST(j.at("queue").as_string() == "q1");
    BOOST_TEST(j.at("priority").as_int64() == 4);
    BOOST_TEST(j.at("attempts").as_int64() == 1);
    BOOST_TEST(j.at("payload").at("note").as_string() == "hi");
    BOOST_TEST(j.at("finished_at").as_string().ends_with("Z"));
}

BOOST_FIXTURE_TEST_CASE(create_job_alias_of_the_seed, Server) {
    const auto r = post("/createJob", R"({"type":"noop","payload":{},"max_retries":3})");
    BOOST_TEST(r.status == 201, r.body);
}

BOOST_FIXTURE_TEST_CASE(repeated_idempotency_key_answers_200_with_the_same_job, Server) {
    const std::string body = R"({"type":"noop","payload":{},"idempotency_key":"welcome-user-123"})";
    const auto first = post("/jobs", body);
    const auto second = post("/jobs", body);
    BOOST_TEST(first.status == 201);
    BOOST_TEST(second.status == 200);
    BOOST_TEST(json::parse(first.body).at("id") == json::parse(second.body).at("id"));
}

BOOST_FIXTURE_TEST_CASE(bad_submissions_are_400_with_an_error_body, Server) {
    const std::pair<const char*, const char*> cases[] = {
        {"{", "invalid_json"},
        {R"({"payload":{}})", "missing_field"},
        {R"({"type":"noop"})", "missing_field"},
        {R"({"type":"noop","payload":{},"extra":true})", "unknown_field"},
        {R"({"type":"noop","payload":{},"max_retries":5000})", "invalid_field"},
        {R"({"type":"noop","payload":{},"priority":"high"})", "invalid_field"},
        {R"({"type":"noop","payload":{},"run_at":"yesterday"})", "invalid_field"},
        {R"({"type":"sms","payload":{}})", "unknown_type"},
        {R"({"type":"noop","payload":{"sleep_ms":-1}})", "invalid_payload"},
    };
    for (const auto& [body, code] : cases) {
        const auto r = post("/jobs", body);
        BOOST_TEST(r.status == 400, body);
        BOOST_TEST(error_code(r) == code, body);
        BOOST_TEST(json::parse(r.body).at("error").at("message").as_string().size() > 0u);
    }
}

BOOST_FIXTURE_TEST_CASE(unknown_routes_and_methods, Server) {
    const auto missing = get("/nope");
    BOOST_TEST(missing.status == 404);
    BOOST_TEST(error_code(missing) == "not_found");
    BOOST_TEST(get("/jobs/999999").status == 404);
    BOOST_TEST(get("/jobs/abc").status == 404);
    const auto wrong = client->request("DELETE", "/jobs", "");
    BOOST_TEST_REQUIRE(wrong.has_value());
    BOOST_TEST(wrong->status == 405);
    BOOST_TEST(wrong->headers.at("allow") == "POST, GET");
    BOOST_TEST(error_code(*wrong) == "method_not_allowed");
}

BOOST_FIXTURE_TEST_CASE(deep_nesting_and_invalid_utf8_are_400, Server) {
    const std::string deep = R"({"type":"noop","payload":)" + std::string(70, '[') + std::string(70, ']') + "}";
    BOOST_TEST(post("/jobs", deep).status == 400);
    BOOST_TEST(error_code(post("/jobs", deep)) == "invalid_json");
    const std::string bad_utf8 = "{\"type\":\"noop\",\"payload\":{\"s\":\"\xff\xfe\"}}";
    BOOST_TEST(post("/jobs", bad_utf8).status == 400);
    BOOST_TEST(error_code(post("/jobs", bad_utf8)) == "invalid_json");
    std::string nested = "{}";
    for (int i = 0; i < 60; ++i) nested = R"({"a":)" + nested + "}";  // 62 levels with the job itself
    const std::string nested_ok = R"({"type":"noop","payload":)" + nested + "}";
    BOOST_TEST(post("/jobs", nested_ok).status == 201);
}

BOOST_FIXTURE_TEST_CASE(oversized_body_is_413, Server) {
    const std::string big(2 << 20, 'x');
    const auto r = client->request("POST", "/jobs", big);
    BOOST_TEST_REQUIRE(r.has_value());
    BOOST_TEST(r->status == 413);
    BOOST_TEST(error_code(*r) == "body_too_large");
}

BOOST_FIXTURE_TEST_CASE(malformed_http_is_400, Server) {
    const auto r = client->raw("BLAH\r\n\r\n");
    BOOST_TEST_REQUIRE(r.has_value());
    BOOST_TEST(r->status == 400);
}

BOOST_FIXTURE_TEST_CASE(keep_alive_serves_many_requests_on_one_connection, Server) {
    for (int i = 0; i < 50; ++i) BOOST_TEST_REQUIRE(post("/jobs", R"({"type":"noop","payload":{}})").status == 201);
}

// Every attempt with its outcome, error, start, end and duration; the last one of a job
// that succeeded, which no failure recorded, from the job itself.
BOOST_FIXTURE_TEST_CASE(a_jobs_attempts_are_listed_with_their_errors_and_times, Server) {
    const auto failing = submit(R"({"type":"noop","payload":{"fail":"retryable","sleep_ms":20},"max_retries":1})");
    const auto fine = submit(R"({"type":"noop","payload":{"sleep_ms":20}})");
    BOOST_TEST_REQUIRE(wait_until([&] { return state_of(failing) == "failed"; }, 15s));
    BOOST_TEST_REQUIRE(wait_until([&] { return state_of(fine) == "done"; }, 15s));

    const auto r = get("/jobs/" + std::to_string(failing) + "/attempts");
    BOOST_TEST_REQUIRE(r.status == 200u, r.body);
    const auto body = json::parse(r.body);
    BOOST_TEST(body.at("id").as_int64() == failing);
    const auto& attempts = body.at("attempts").as_array();
    BOOST_TEST_REQUIRE(attempts.size() == 2u);
    BOOST_TEST(attempts[0].at("attempt").as_int64() == 1);
    BOOST_TEST(attempts[0].at("outcome").as_string() == "retryable");
    BOOST_TEST(attempts[1].at("attempt").as_int64() == 2);
    BOOST_TEST(attempts[1].at("outcome").as_string() == "failed");
    for (const auto& a : attempts) {
        BOOST_TEST(a.at("error").as_string().find("retryable") != json::string::npos, a.at("error"));
        BOOST_TEST(a.at("finished_at").as_string() >= a.at("started_at").as_string());  // RFC 3339, one format
        BOOST_TEST(a.at("started_at").is_string());
        BOOST_TEST(a.at("finished_at").is_string());
        BOOST_TEST(a.at("duration_ms").as_int64() >= 20);  // it slept that long before failing
    }

    const auto done = json::parse(get("/jobs/" + std::to_string(fine) + "/attempts").body);
    BOOST_TEST_REQUIRE(done.at("attempts").as_array().size() == 1u);
    BOOST_TEST(done.at("attempts").at(0).at("outcome").as_string() == "succeeded");
    BOOST_TEST(done.at("attempts").at(0).at("error").is_null());
    BOOST_TEST(done.at("attempts").at(0).at("duration_ms").as_int64() >= 20);

    // A job running now: its attempt, with no end yet.
    const auto slow = submit(R"({"type":"noop","payload":{"sleep_ms":3000}})");
    BOOST_TEST_REQUIRE(wait_until([&] { return state_of(slow) == "processing"; }, 15s));
    const auto running = json::parse(get("/jobs/" + std::to_string(slow) + "/attempts").body);
    BOOST_TEST_REQUIRE(running.at("attempts").as_array().size() == 1u);
    BOOST_TEST(running.at("attempts").at(0).at("outcome").as_string() == "running");
    BOOST_TEST(running.at("attempts").at(0).at("finished_at").is_null());
    BOOST_TEST(running.at("attempts").at(0).at("duration_ms").is_null());

    BOOST_TEST(get("/jobs/999999/attempts").status == 404u);
    BOOST_TEST(get("/jobs/abc/attempts").status == 404u);
}

BOOST_AUTO_TEST_SUITE_END()
