// Every route beyond submission: batches, listing, operator changes, stats, metrics,
// readiness, media types, the API token and the access log.

#include "server_fixture.hpp"
#include "wait.hpp"

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <cstdlib>
#include <set>

using namespace jobq::test;
namespace json = boost::json;
using namespace std::chrono_literals;

namespace {

constexpr const char* later = R"({"type":"noop","payload":{},"delay_ms":3600000})";

std::string batch_of(const std::vector<std::string>& jobs) {
    std::string body = R"({"jobs":[)";
    for (std::size_t i = 0; i < jobs.size(); ++i) body += (i ? "," : "") + jobs[i];
    return body + "]}";
}

std::vector<std::int64_t> listed_ids(const HttpReply& r) {
    std::vector<std::int64_t> ids;
    const auto page = json::parse(r.body);
    for (const auto& j : page.at("jobs").as_array()) ids.push_back(j.at("id").as_int64());
    return ids;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(api_routes)

BOOST_FIXTURE_TEST_CASE(batch_stores_every_job_and_answers_their_ids_in_order, Server) {
    const auto r = post("/jobs/batch", batch_of({later, R"({"type":"noop","payload":{},"queue":"b"})", later}));
    BOOST_TEST_REQUIRE(r.status == 201, r.body);
    const auto ids = json::parse(r.body).at("ids").as_array();
    BOOST_TEST_REQUIRE(ids.size() == 3u);
    BOOST_TEST(ids[0].as_int64() < ids[1].as_int64());
    BOOST_TEST(ids[1].as_int64() < ids[2].as_int64());
    BOOST_TEST(job(ids[1].as_int64()).at("queue").as_string() == "b");
    BOOST_TEST(wait_until([&] { return state_of(ids[1].as_int64()) == "done"; }, 10s));
}

BOOST_FIXTURE_TEST_CASE(a_batch_with_one_bad_job_stores_nothing, Server) {
    const auto r = post("/jobs/batch", batch_of({later, R"({"payload":{}})", later}));
    BOOST_TEST(r.status == 400);
    BOOST_TEST(error_code(r) == "missing_field");
    BOOST_TEST(json::parse(r.body).at("error").at("message").as_string().starts_with("jobs[1]: "), r.body);
    BOOST_TEST(listed_ids(get("/jobs")).empty());
}

BOOST_FIXTURE_TEST_CASE(batch_limits_and_shape, Server) {
    BOOST_TEST(post("/jobs/batch", R"({"jobs":[]})").status == 400);
    BOOST_TEST(post("/jobs/batch", batch_of(std::vector<std::string>(1001, later))).status == 400);
    BOOST_TEST(error_code(post("/jobs/batch", R"({"jobs":[],"x":1})")) == "unknown_field");
    BOOST_TEST(error_code(post("/jobs/batch", R"([1])")) == "invalid_json");
    const auto full = post("/jobs/batch", batch_of(std::vector<std::string>(1000, later)));
    BOOST_TEST(full.status == 201);
    BOOST_TEST(json::parse(full.body).at("ids").as_array().size() == 1000u);
}

BOOST_FIXTURE_TEST_CASE(list_pages_through_every_job_with_the_cursor, Server) {
    std::set<std::int64_t> submitted;
    for (int i = 0; i < 7; ++i) submitted.insert(submit(later));
    std::vector<std::int64_t> seen;
    std::string target = "/jobs?limit=3";
    for (int page = 0; page < 10; ++page) {
        const auto r = get(target);
        BOOST_TEST_REQUIRE(r.status == 200, r.body);
        const auto ids = listed_ids(r);
        BOOST_TEST(ids.size() <= 3u);
        seen.insert(seen.end(), ids.begin(), ids.end());
        const auto cursor = json::parse(r.body).at("next_cursor");
        if (cursor.is_null()) break;
        target = "/jobs?limit=3&cursor=" + std::string(cursor.as_string());
    }
    BOOST_TEST(std::set<std::int64_t>(seen.begin(), seen.end()) == submitted);
    BOOST_TEST(seen.size() == submitted.size());
    BOOST_TEST(std::is_sorted(seen.begin(), seen.end()));
}

BOOST_FIXTURE_TEST_CASE(list_filters_by_state_type_and_queue, Server) {
    const auto queued = submit(later);
    const auto other_queue = submit(R"({"type":"noop","payload":{},"delay_ms":3600000,"queue":"mail"})");
    const auto done = submit(R"({"type":"noop","payload":{}})");
    BOOST_TEST_REQUIRE(wait_until([&] { return state_of(done) == "done"; }, 10s));
    BOOST_TEST(listed_ids(get("/jobs?state=done")) == std::vector<std::int64_t>{done});
    BOOST_TEST(listed_ids(get("/jobs?queue=mail")) == std::vector<std::int64_t>{other_queue});
    BOOST_TEST((listed_ids(get("/jobs?state=queued&queue=default")) == std::vector<std::int64_t>{queued}));
    BOOST_TEST(listed_ids(get("/jobs?type=noop")).size() == 3u);
    BOOST_TEST(listed_ids(get("/jobs?type=email")).empty());
    for (const char* bad : {"/jobs?state=sleeping", "/jobs?limit=0", "/jobs?limit=1001", "/jobs?limit=x",
                            "/jobs?cursor=-4", "/jobs?colour=red", "/jobs?state=done&state=failed", "/jobs?queue=%zz"}) {
        const auto r = get(bad);
        BOOST_TEST(r.status == 400, bad);
        BOOST_TEST(error_code(r) == "invalid_query", bad);
    }
}

BOOST_FIXTURE_TEST_CASE(cancel_takes_a_queued_job_out_and_retry_brings_it_back, Server) {
    const auto id = submit(later);
    const auto cancelled = post("/jobs/" + std::to_string(id) + "/cancel", "");
    BOOST_TEST_REQUIRE(cancelled.status == 200, cancelled.body);
    BOOST_TEST(json::parse(cancelled.body).at("state").as_string() == "cancelled");
    BOOST_TEST(state_of(id) == "cancelled");

    const auto again = post("/jobs/" + std::to_string(id) + "/cancel", "");
    BOOST_TEST(again.status == 409);
    BOOST_TEST(error_code(again) == "conflict");

    const auto retried = post("/jobs/" + std::to_string(id) + "/retry", "");
    BOOST_TEST_REQUIRE(retried.status == 200, retried.body);
    BOOST_TEST(json::parse(retried.body).at("state").as_string() == "queued");
    BOOST_TEST(json::parse(retried.body).at("attempts").as_int64() == 0);
    BOOST_TEST(wait_until([&] { return state_of(id) == "done"; }, 10s));  // runs now, not in an hour

    BOOST_TEST(post("/jobs/" + std::to_string(id) + "/retry", "").status == 409);  // done
    BOOST_TEST(post("/jobs/" + std::to_string(id) + "/cancel", "").status == 409);
    BOOST_TEST(post("/jobs/424242/cancel", "").status == 404);
    BOOST_TEST(post("/jobs/424242/retry", "").status == 404);
}

BOOST_FIXTURE_TEST_CASE(a_failed_job_is_retried_with_its_attempts_reset, Server) {
    const auto id = submit(R"({"type":"noop","payload":{"fail":"permanent"}})");
    BOOST_TEST_REQUIRE(wait_until([&] { return state_of(id) == "failed"; }, 10s));
    BOOST_TEST(post("/jobs/" + std::to_string(id) + "/cancel", "").status == 409);
    BOOST_TEST(post("/jobs/" + std::to_string(id) + "/retry", "").status == 200);
    BOOST_TEST(wait_until([&] { return state_of(id) == "failed" && job(id).at("attempts").as_int64() == 1; }, 10s));
    BOOST_TEST(job(id).at("attempts_total").as_int64() == 2);  // both runs counted, each with its record
}

BOOST_FIXTURE_TEST_CASE(a_running_job_cannot_be_cancelled_retried_or_deleted, Server) {
    const auto id = submit(R"({"type":"noop","payload":{"sleep_ms":60000}})");
    BOOST_TEST_REQUIRE(wait_until([&] { return state_of(id) == "processing"; }, 10s));
    for (const char* action : {"/cancel", "/retry"}) {
        const auto r = post("/jobs/" + std::to_string(id) + action, "");
        BOOST_TEST(r.status == 409, action);
        BOOST_TEST(json::parse(r.body).at("error").at("message").as_string().find("processing") != std::string::npos);
    }
    BOOST_TEST(request("DELETE", "/jobs/" + std::to_string(id)).status == 409);
    BOOST_TEST(state_of(id) == "processing");
}

BOOST_FIXTURE_TEST_CASE(delete_removes_a_job_in_any_other_state, Server) {
    const auto queued = submit(later);
    const auto done = submit(R"({"type":"noop","payload":{}})");
    BOOST_TEST_REQUIRE(wait_until([&] { return state_of(done) == "done"; }, 10s));
    for (const auto id : {queued, done}) {
        const auto r = request("DELETE", "/jobs/" + std::to_string(id));
        BOOST_TEST(r.status == 204);
        BOOST_TEST(r.body.empty());
        BOOST_TEST(get("/jobs/" + std::to_string(id)).status == 404);
    }
    BOOST_TEST(request("DELETE", "/jobs/" + std::to_string(queued)).status == 404);
}

BOOST_FIXTURE_TEST_CASE(stats_counts_jobs_by_state_queue_and_type, Server) {
    submit(later);
    submit(R"({"type":"noop","payload":{},"delay_ms":3600000,"queue":"mail"})");
    const auto done = submit(R"({"type":"noop","payload":{}})");
    BOOST_TEST_REQUIRE(wait_until([&] { return state_of(done) == "done"; }, 10s));
    const auto stats = json::parse(get("/stats").body).as_object();
    BOOST_TEST(stats.at("jobs").at("queued").as_int64() == 2);
    BOOST_TEST(stats.at("jobs").at("done").as_int64() == 1);
    BOOST_TEST(stats.at("jobs").at("failed").as_int64() == 0);
    BOOST_TEST(stats.at("queues").at("mail").at("queued").as_int64() == 1);
    BOOST_TEST(stats.at("types").at("noop").at("queued").as_int64() == 2);
    BOOST_TEST(stats.at("oldest_runnable_age_ms").is_null());  // the queued ones are not due
    BOOST_TEST(stats.at("totals_since_start").at("enqueued").as_int64() == 3);
    BOOST_TEST(stats.at("totals_since_start").at("succeeded").as_int64() == 1);
    BOOST_TEST(stats.at("workers").at("total").as_int64() == 64);
    BOOST_TEST(stats.at("workers").at("busy").as_int64() + stats.at("workers").at("idle").as_int64() == 64);
}

namespace {

std::int64_t sum_of(const json::value& values) {
    std::int64_t sum = 0;
    for (const auto& v : values.as_array()) sum += v.as_int64();
    return sum;
}

}  // namespace

BOOST_FIXTURE_TEST_CASE(stats_history_counts_each_second, Server) {
    submit(R"({"type":"noop","payload":{},"queue":"mail"})");
    const auto done = submit(R"({"type":"noop","payload":{}})");
    submit(later);
    BOOST_TEST_REQUIRE(wait_until([&] { return state_of(done) == "done"; }, 10s));
    json::object history;
    // Done in the last minute, whenever the seconds turned.
    BOOST_TEST_REQUIRE(wait_until(
        [&] {
            history = json::parse(get("/stats/history?seconds=60").body).as_object();
            return sum_of(history.at("totals").at("done")) == 2;
        },
        10s));
    BOOST_TEST(history.at("seconds").as_int64() == 60);
    BOOST_TEST(history.at("totals").at("enqueued").as_array().size() == 60u);
    BOOST_TEST(sum_of(history.at("totals").at("enqueued")) == 3);
    BOOST_TEST(sum_of(history.at("totals").at("started")) == 2);
    BOOST_TEST(sum_of(history.at("totals").at("failed")) == 0);
    BOOST_TEST(sum_of(history.at("queues").at("mail").at("done")) == 1);
    BOOST_TEST(sum_of(history.at("queues").at("default").at("enqueued")) == 2);
    BOOST_TEST(history.at("every_queue").as_bool());
    const auto now_second = std::chrono::duration_cast<std::chrono::seconds>(
                                std::chrono::system_clock::now().time_since_epoch()).count();
    BOOST_TEST(std::abs(history.at("from").as_int64() + 59 - now_second) <= 2);

    const auto mail = json::parse(get("/stats/history?queue=mail").body);
    BOOST_TEST(mail.at("queues").as_object().size() == 1u);
    BOOST_TEST(sum_of(mail.at("queues").at("mail").at("enqueued")) == 1);
    BOOST_TEST(sum_of(mail.at("totals").at("enqueued")) == 3);  // the totals stay whole
    BOOST_TEST(json::parse(get("/stats/history").body).at("seconds").as_int64() == 60);  // the default
    BOOST_TEST(json::parse(get("/stats/history?seconds=3600").body).at("totals").at("done").as_array().size() == 3600u);
    for (const char* bad : {"/stats/history?seconds=0", "/stats/history?seconds=3601", "/stats/history?seconds=x",
                            "/stats/history?minutes=1", "/stats/history?queue="}) {
        const auto r = get(bad);
        BOOST_TEST(r.status == 400, bad);
        BOOST_TEST(json::parse(r.body).at("error").at("code").as_string() == "invalid_query", bad);
    }
}

BOOST_FIXTURE_TEST_CASE(metrics_speak_prometheus_text, Server) {
    const auto id = submit(R"({"type":"noop","payload":{}})");
    BOOST_TEST_REQUIRE(wait_until([&] { return state_of(id) == "done"; }, 10s));
    submit(later);
    const auto r = get("/metrics");
    BOOST_TEST(r.status == 200);
    BOOST_TEST(r.headers.at("content-type").starts_with("text/plain; version=0.0.4"));
    for (const char* line : {"jobq_jobs{state=\"queued\",queue=\"default\"} 1\n",
                             "jobq_jobs{state=\"done\",queue=\"default\"} 1\n",
                             "jobq_jobs_enqueued_total 2\n",
                             "jobq_job_runs_total{type=\"noop\",outcome=\"succeeded\"} 1\n",
                             "jobq_job_duration_seconds_count{type=\"noop\"} 1\n",
                             "jobq_http_requests_total{route=\"/jobs\",code=\"201\"} 2\n",
                             "jobq_http_request_duration_seconds_bucket{le=\"+Inf\"}",
                             "jobq_db_commit_batch_size_bucket{le=\"1\"}",
                             "jobq_db_commit_seconds_sum ",
                             "# TYPE jobq_workers_busy gauge\njobq_workers_busy "})
        BOOST_TEST(r.body.find(line) != std::string::npos, line);
}

BOOST_FIXTURE_TEST_CASE(readyz_answers_ready_when_the_database_takes_writes, Server) {
    const auto r = get("/readyz");
    BOOST_TEST(r.status == 200, r.body);
    BOOST_TEST(json::parse(r.body).at("status").as_string() == "ready");
}

BOOST_FIXTURE_TEST_CASE(a_body_that_is_not_json_is_415, Server) {
    for (const char* type : {"text/plain", "application/x-www-form-urlencoded", "application/jsonp"}) {
        const auto r = client->request("POST", "/jobs", R"({"type":"noop","payload":{}})", type);
        BOOST_TEST_REQUIRE(r.has_value());
        BOOST_TEST(r->status == 415, type);
        BOOST_TEST(error_code(*r) == "unsupported_media_type");
    }
    const auto r = client->request("POST", "/jobs", R"({"type":"noop","payload":{}})", "Application/JSON; charset=utf-8");
    BOOST_TEST_REQUIRE(r.has_value());
    BOOST_TEST(r->status == 201);
    BOOST_TEST(client->request("POST", "/jobs/batch", R"({"jobs":[]})", "text/plain")->status == 415);
}

struct TokenServer : Server {
    TokenServer() : Server({"--api-token", "s3cret-token"}) {}
};

BOOST_FIXTURE_TEST_CASE(the_api_token_guards_every_route_but_the_probes, TokenServer) {
    BOOST_TEST(get("/healthz").status == 200);
    BOOST_TEST(get("/readyz").status == 200);
    const auto refused = post("/jobs", R"({"type":"noop","payload":{}})");
    BOOST_TEST(refused.status == 401);
    BOOST_TEST(error_code(refused) == "unauthorized");
    BOOST_TEST(refused.headers.at("www-authenticate") == "Bearer");
    for (const char* target : {"/jobs", "/stats", "/metrics", "/jobs/1"}) BOOST_TEST(get(target).status == 401, target);

    client->set_header("Authorization", "Bearer s3cret-toke");
    BOOST_TEST(get("/stats").status == 401);
    client->set_header("Authorization", "Bearer s3cret-token-and-more");
    BOOST_TEST(get("/stats").status == 401);
    client->set_header("Authorization", "Basic s3cret-token");
    BOOST_TEST(get("/stats").status == 401);
    client->set_header("Authorization", "Bearer s3cret-token");
    BOOST_TEST(post("/jobs", R"({"type":"noop","payload":{}})").status == 201);
    BOOST_TEST(get("/stats").status == 200);
    BOOST_TEST(server.log().find("s3cret") == std::string::npos);
}

BOOST_FIXTURE_TEST_CASE(the_access_log_has_a_line_per_request_and_no_payload, Server) {
    const auto id = submit(R"({"type":"noop","payload":{"note":"private-marker"},"delay_ms":3600000})");
    get("/nope");
    const std::string job_line =
        "msg=request method=POST route=/jobs status=201 duration_ms=";
    BOOST_TEST(wait_until([&] { return server.log().find("route=unmatched status=404") != std::string::npos; }, 5s),
               server.log());
    const auto log = server.log();
    const auto at = log.find(job_line);
    BOOST_TEST_REQUIRE(at != std::string::npos, log);
    BOOST_TEST(log.substr(at, log.find('\n', at) - at).ends_with(" job=" + std::to_string(id)));
    BOOST_TEST(log.find("private-marker") == std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
