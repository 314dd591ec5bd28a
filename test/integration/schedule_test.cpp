// Schedules through the real server: created, replaced, read, deleted and triggered over
// HTTP; bad schedules refused with a 400 that says why; ticks fired exactly once each,
// across a SIGKILL, by each catch-up policy.

#include "server_fixture.hpp"
#include "wait.hpp"

#include "core/clock.hpp"

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <string>
#include <thread>
#include <vector>

using namespace jobq::test;
namespace json = boost::json;
using namespace std::chrono_literals;

namespace {

// An @every schedule of noop jobs into a queue of its own.
std::string every(const std::string& interval, const std::string& queue, const std::string& more = {}) {
    return R"({"cron":"@every )" + interval + R"(","job":{"type":"noop","payload":{},"queue":")" + queue + R"("})" +
           (more.empty() ? "" : "," + more) + "}";
}

struct ScheduleServer : Server {
    HttpReply put(const std::string& name, const std::string& body) {
        return request("PUT", "/schedules/" + name, body);
    }

    // The ticks fired into `queue`, from the jobs' idempotency keys, sorted.
    std::vector<std::int64_t> ticks_in(const std::string& queue) {
        const auto page = json::parse(get("/jobs?limit=1000&queue=" + queue).body);
        std::vector<std::int64_t> ticks;
        for (const auto& job : page.at("jobs").as_array()) {
            const auto& key = job.at("idempotency_key");
            if (!key.is_string()) continue;  // a triggered job
            const std::string text(key.as_string());
            ticks.push_back(std::stoll(text.substr(text.rfind(':') + 1)));
        }
        std::sort(ticks.begin(), ticks.end());
        return ticks;
    }
};

json::object parsed(const HttpReply& r) { return json::parse(r.body).as_object(); }

}  // namespace

BOOST_AUTO_TEST_SUITE(schedules)

BOOST_FIXTURE_TEST_CASE(a_schedule_is_created_replaced_read_and_deleted, ScheduleServer) {
    const auto created = put("digest", R"({"cron":"0 7 * * *","timezone":"Europe/Berlin","catch_up":"all",
        "job":{"type":"noop","payload":{"sleep_ms":1},"queue":"mail","priority":2,"max_retries":4}})");
    BOOST_TEST_REQUIRE(created.status == 201u, created.body);
    const auto body = parsed(created);
    BOOST_TEST(body.at("name").as_string() == "digest");
    BOOST_TEST(body.at("cron").as_string() == "0 7 * * *");
    BOOST_TEST(body.at("timezone").as_string() == "Europe/Berlin");
    BOOST_TEST(body.at("catch_up").as_string() == "all");
    BOOST_TEST(body.at("paused").as_bool() == false);
    BOOST_TEST(body.at("job") == json::parse(R"({"type":"noop","payload":{"sleep_ms":1},"queue":"mail","priority":2,
        "max_retries":4})"));
    // 07:00 in Berlin is 05:00 or 06:00 UTC.
    const std::string next(body.at("next_run_at").as_string());
    BOOST_TEST((next.find("T05:00:00.000Z") != std::string::npos || next.find("T06:00:00.000Z") != std::string::npos),
               next);
    BOOST_TEST(body.at("last_run_at").is_null());
    BOOST_TEST(body.at("last_job_id").is_null());

    const auto replaced = put("digest", R"({"cron":"30 6 * * 1-5","job":{"type":"noop","payload":{}}})");
    BOOST_TEST_REQUIRE(replaced.status == 200u, replaced.body);
    BOOST_TEST(parsed(replaced).at("timezone").as_string() == "UTC");
    BOOST_TEST(parsed(replaced).at("catch_up").as_string() == "latest");
    BOOST_TEST(parsed(get("/schedules/digest")).at("cron").as_string() == "30 6 * * 1-5");
    BOOST_TEST(put("another", R"({"cron":"@hourly","job":{"type":"noop","payload":{}}})").status == 201u);
    const auto all = parsed(get("/schedules")).at("schedules").as_array();
    BOOST_TEST_REQUIRE(all.size() == 2u);
    BOOST_TEST(all[0].at("name").as_string() == "another");

    BOOST_TEST(request("DELETE", "/schedules/digest").status == 204u);
    BOOST_TEST(get("/schedules/digest").status == 404u);
    BOOST_TEST(request("DELETE", "/schedules/digest").status == 404u);
    BOOST_TEST(error_code(request("POST", "/schedules/digest/trigger")) == "not_found");
}

BOOST_FIXTURE_TEST_CASE(bad_schedules_are_400_and_say_why, ScheduleServer) {
    const std::vector<std::pair<std::string, std::string>> cases = {
        {R"({"cron":"61 * * * *","job":{"type":"noop","payload":{}}})", "invalid_cron"},
        {R"({"cron":"* * *","job":{"type":"noop","payload":{}}})", "invalid_cron"},
        {R"({"cron":"@every 10ms","job":{"type":"noop","payload":{}}})", "invalid_cron"},
        {R"({"cron":"@hourly","timezone":"Mars/Base","job":{"type":"noop","payload":{}}})", "invalid_field"},
        {R"({"cron":"@hourly","catch_up":"some","job":{"type":"noop","payload":{}}})", "invalid_field"},
        {R"({"cron":"@hourly","paused":"yes","job":{"type":"noop","payload":{}}})", "invalid_field"},
        {R"({"cron":"@hourly","colour":"red","job":{"type":"noop","payload":{}}})", "unknown_field"},
        {R"({"cron":"@hourly","job":{"type":"noop","payload":{},"run_at":"2030-01-01T00:00:00Z"}})", "unknown_field"},
        {R"({"cron":"@hourly","job":{"type":"noop","payload":{},"idempotency_key":"k"}})", "unknown_field"},
        {R"({"cron":"@hourly","job":{"type":"no.such.type","payload":{}}})", "unknown_type"},
        {R"({"cron":"@hourly","job":{"type":"email","payload":{"subject":"no address"}}})", "invalid_payload"},
        {R"({"cron":"@hourly"})", "missing_field"},
        {R"({"job":{"type":"noop","payload":{}}})", "missing_field"},
        {R"([1,2])", "invalid_json"},
        {R"({"cron":)", "invalid_json"},
    };
    for (const auto& [body, code] : cases) {
        const auto r = put("nightly", body);
        BOOST_TEST(r.status == 400u, body << ": " << r.body);
        BOOST_TEST(error_code(r) == code, body << ": " << r.body);
    }
    const auto where = put("nightly", R"({"cron":"0 24 * * *","job":{"type":"noop","payload":{}}})");
    BOOST_TEST(where.body.find("hour: 24 is out of range 0-23") != std::string::npos, where.body);
    BOOST_TEST(error_code(put("bad!name", R"({"cron":"@hourly","job":{"type":"noop","payload":{}}})")) == "invalid_name");
    BOOST_TEST(client->request("PUT", "/schedules/nightly", "{}", "text/plain")->status == 415u);
    BOOST_TEST(parsed(get("/schedules")).at("schedules").as_array().empty());  // nothing was stored
}

BOOST_FIXTURE_TEST_CASE(every_tick_fires_one_job_keyed_by_the_tick, ScheduleServer) {
    BOOST_TEST_REQUIRE(put("tick", every("1s", "ticks")).status == 201u);
    BOOST_TEST_REQUIRE(wait_until([&] { return ticks_in("ticks").size() >= 3; }, 15s));
    const auto ticks = ticks_in("ticks");
    for (std::size_t i = 1; i < ticks.size(); ++i) BOOST_TEST(ticks[i] - ticks[i - 1] == 1'000);
    const auto schedule = parsed(get("/schedules/tick"));
    BOOST_TEST(!schedule.at("last_run_at").is_null());
    const std::string metrics = get("/metrics").body;
    const std::string fires = R"(jobq_schedule_fires_total{schedule="tick"} )";
    const auto at = metrics.find(fires);
    BOOST_TEST_REQUIRE(at != std::string::npos, metrics);
    BOOST_TEST(std::stoll(metrics.substr(at + fires.size())) >= 3);
    BOOST_TEST(!schedule.at("last_job_id").is_null());
    // Fired jobs run like any other.
    const auto first = json::parse(get("/jobs?queue=ticks&limit=1").body).at("jobs").at(0).at("id").as_int64();
    BOOST_TEST(wait_until([&] { return state_of(first) == "done"; }, 15s));

    // A trigger adds one job now, outside the cadence.
    const auto triggered = request("POST", "/schedules/tick/trigger");
    BOOST_TEST_REQUIRE(triggered.status == 201u, triggered.body);
    BOOST_TEST(parsed(triggered).at("queue").as_string() == "ticks");
    BOOST_TEST(parsed(triggered).at("idempotency_key").is_null());
}

BOOST_FIXTURE_TEST_CASE(a_paused_schedule_fires_nothing_until_resumed, ScheduleServer) {
    BOOST_TEST_REQUIRE(put("held", every("1s", "held", R"("paused":true)")).status == 201u);
    BOOST_TEST(parsed(get("/schedules/held")).at("next_run_at").is_null());
    // Another schedule as the clock: three of its ticks pass.
    BOOST_TEST_REQUIRE(put("clock", every("1s", "clock")).status == 201u);
    BOOST_TEST_REQUIRE(wait_until([&] { return ticks_in("clock").size() >= 3; }, 15s));
    BOOST_TEST(ticks_in("held").empty());
    const auto stats = json::parse(get("/stats").body).at("schedules");
    BOOST_TEST(stats.at("total").as_int64() == 2);
    BOOST_TEST(stats.at("paused").as_int64() == 1);
    // The earliest tick of those running: the clock's, never the paused one's.
    BOOST_TEST(stats.at("next_run_at").is_string());
    const auto clock_next = parsed(get("/schedules/clock")).at("next_run_at");
    BOOST_TEST((stats.at("next_run_at") == clock_next || stats.at("next_run_at").as_string() < clock_next.as_string()));
    BOOST_TEST(put("held", every("1s", "held", R"("paused":false)")).status == 200u);
    BOOST_TEST(wait_until([&] { return !ticks_in("held").empty(); }, 15s));
}

// Down for three ticks and more: `all` fires each missed tick once, `none` none of them,
// `latest` the last; no tick twice.
BOOST_FIXTURE_TEST_CASE(catch_up_after_a_sigkill_by_each_policy, ScheduleServer) {
    for (const std::string policy : {"all", "none", "latest"})
        BOOST_TEST_REQUIRE(put(policy, every("1s", policy, R"("catch_up":")" + policy + R"(")")).status == 201u);
    BOOST_TEST_REQUIRE(wait_until([&] { return ticks_in("none").size() >= 2 && ticks_in("all").size() >= 2 &&
                                               ticks_in("latest").size() >= 2; },
                                  15s));
    server.kill();
    std::this_thread::sleep_for(3500ms);  // the outage itself: three ticks and a half
    BOOST_TEST_REQUIRE(server.restart_on_same_port(), server.log());
    client = std::make_unique<HttpClient>(server.port());
    // Caught up at start-up; then on time again.
    const auto settled = [&](const std::string& queue) {
        const auto ticks = ticks_in(queue);
        return !ticks.empty() && ticks.back() >= jobq::core::system_now_ms() - 1'000;
    };
    BOOST_TEST_REQUIRE(wait_until([&] { return settled("all") && settled("none") && settled("latest"); }, 15s));
    const auto largest_gap = [&](const std::string& queue) {
        const auto ticks = ticks_in(queue);
        std::int64_t gap = 0;
        for (std::size_t i = 1; i < ticks.size(); ++i) gap = std::max(gap, ticks[i] - ticks[i - 1]);
        return gap;
    };
    const auto all = ticks_in("all");
    BOOST_TEST((std::adjacent_find(all.begin(), all.end()) == all.end()));  // none twice
    BOOST_TEST(largest_gap("all") == 1'000);                                // none missing
    BOOST_TEST(largest_gap("none") >= 3'000);                               // the outage's ticks skipped
    BOOST_TEST(largest_gap("latest") >= 2'000);                             // only the last of them
    BOOST_TEST(largest_gap("latest") < largest_gap("none") + 1'000);
}

BOOST_AUTO_TEST_SUITE_END()
