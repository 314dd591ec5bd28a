// Exactly once per tick, whatever the moment of a crash: an `@every 1s` schedule catching
// up every missed tick while the server is SIGKILLed at random moments, ten times. Each
// tick's job is stored in the transaction that advances the schedule, so afterwards every
// tick from the first to the last has exactly one job.

#include "http_client.hpp"
#include "server_process.hpp"
#include "temp_dir.hpp"
#include "wait.hpp"

#include "core/clock.hpp"

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <optional>
#include <random>
#include <thread>
#include <vector>

using namespace jobq::test;
namespace json = boost::json;
using namespace std::chrono_literals;

namespace {

constexpr int kill_rounds = 10;

// The ticks fired, from the jobs' keys (schedule:every-second:<tick>), sorted; none when
// the server did not answer.
std::optional<std::vector<std::int64_t>> fired_ticks(HttpClient& client) {
    std::vector<std::int64_t> ticks;
    std::string cursor;
    for (;;) {
        const auto page = client.get("/jobs?queue=ticks&limit=1000" + (cursor.empty() ? "" : "&cursor=" + cursor));
        if (!page || page->status != 200) return std::nullopt;
        const auto body = json::parse(page->body);
        for (const auto& job : body.at("jobs").as_array()) {
            const std::string key(job.at("idempotency_key").as_string());
            ticks.push_back(std::stoll(key.substr(key.rfind(':') + 1)));
        }
        if (body.at("next_cursor").is_null()) break;
        cursor = std::string(body.at("next_cursor").as_string());
    }
    std::sort(ticks.begin(), ticks.end());
    return ticks;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(schedule_crash)

BOOST_AUTO_TEST_CASE(every_tick_fires_once_across_sigkills) {
    TempDir dir;
    ServerProcess server(dir.file("jobs.db"), {}, dir.file("log"));
    BOOST_TEST_REQUIRE(server.start(), server.log());
    std::int64_t first_tick = 0;
    {
        HttpClient client(server.port());
        const auto put = client.request(
            "PUT", "/schedules/every-second",
            R"({"cron":"@every 1s","catch_up":"all","job":{"type":"noop","payload":{},"queue":"ticks"}})");
        BOOST_TEST_REQUIRE((put && put->status == 201u));
        const std::string next(json::parse(put->body).at("next_run_at").as_string());
        first_tick = jobq::core::parse_rfc3339(next).value();
    }
    std::mt19937 random(20261203);
    std::uniform_int_distribution<int> alive_ms(100, 2'500);
    std::uniform_int_distribution<int> down_ms(0, 2'000);
    for (int round = 0; round < kill_rounds; ++round) {
        std::this_thread::sleep_for(std::chrono::milliseconds(alive_ms(random)));  // a random moment
        server.kill();
        std::this_thread::sleep_for(std::chrono::milliseconds(down_ms(random)));  // ticks missed meanwhile
        BOOST_TEST_REQUIRE(server.restart_on_same_port(), server.log());
    }
    HttpClient client(server.port());
    // Caught up, and on time again: the last tick is at most a second old.
    BOOST_TEST_REQUIRE(wait_until(
        [&] {
            const auto ticks = fired_ticks(client);
            return ticks && !ticks->empty() && ticks->back() >= jobq::core::system_now_ms() - 1'000;
        },
        30s));
    const auto ticks = fired_ticks(client).value();
    BOOST_TEST_MESSAGE("ticks fired: " << ticks.size());
    BOOST_TEST_REQUIRE(ticks.size() >= 10u);
    BOOST_TEST(ticks.front() == first_tick);  // the first tick too
    // The key is unique: a tick fired twice would have answered the job stored the first
    // time; what this counts is a tick whose job is missing.
    std::size_t missing = 0;
    for (std::size_t i = 1; i < ticks.size(); ++i)
        missing += static_cast<std::size_t>((ticks[i] - ticks[i - 1]) / 1'000 - 1);
    BOOST_TEST(missing == 0u);
    BOOST_TEST(ticks.back() - ticks.front() == static_cast<std::int64_t>(ticks.size() - 1) * 1'000);
}

BOOST_AUTO_TEST_SUITE_END()
