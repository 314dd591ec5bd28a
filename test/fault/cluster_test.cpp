// Several jobq nodes on one PostgreSQL database (run with JOBQ_TEST_STORE=postgres: every
// node of a test shares its schema): wake-ups cross nodes by LISTEN/NOTIFY, a name is one
// live node's, and when the leader is SIGKILLed another takes over its work within 15 s,
// the dead node's running jobs running again within three heartbeats.

#include "http_client.hpp"
#include "server_process.hpp"
#include "temp_dir.hpp"
#include "test_store.hpp"
#include "wait.hpp"

#include "core/clock.hpp"

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <chrono>
#include <future>
#include <string>
#include <vector>

using namespace jobq::test;
namespace json = boost::json;
using namespace std::chrono_literals;

namespace {

std::vector<std::string> node(const std::string& name, std::vector<std::string> args = {}) {
    args.insert(args.end(), {"--node-name", name, "--external-types", "ext", "--retry-base-ms", "50"});
    return args;
}

json::object job_of(HttpClient& client, std::int64_t id) {
    const auto reply = client.get("/jobs/" + std::to_string(id));
    BOOST_TEST_REQUIRE(reply.has_value());
    BOOST_TEST_REQUIRE(reply->status == 200, reply->body);
    return json::parse(reply->body).as_object();
}

std::int64_t submit(HttpClient& client, const std::string& body) {
    const auto reply = client.post("/jobs", body);
    BOOST_TEST_REQUIRE(reply.has_value());
    BOOST_TEST_REQUIRE(reply->status == 201, reply->body);
    return json::parse(reply->body).at("id").as_int64();
}

std::string state_of(HttpClient& client, std::int64_t id) {
    return std::string(job_of(client, id).at("state").as_string());
}

// Milliseconds since the epoch of an RFC 3339 time the API answered.
jobq::core::millis at(const json::value& text) {
    return jobq::core::parse_rfc3339(std::string(text.as_string())).value();
}

}  // namespace

BOOST_AUTO_TEST_SUITE(cluster)

// Node a has one worker, busy; b has all of its free. A job submitted to a starts on b
// within milliseconds: b hears of it (NOTIFY), it does not poll.
BOOST_AUTO_TEST_CASE(a_job_submitted_to_a_busy_node_starts_on_an_idle_one) {
    TempDir dir;
    ServerProcess a(dir.file("jobs.db"), node("a", {"--workers", "1"}), dir.file("a.log"));
    BOOST_TEST_REQUIRE(a.start(), a.log());
    HttpClient client_a(a.port());
    const auto busy = submit(client_a, R"({"type":"noop","payload":{"sleep_ms":5000}})");
    BOOST_TEST_REQUIRE(wait_until([&] { return state_of(client_a, busy) == "processing"; }, 10s));
    ServerProcess b(dir.file("jobs.db"), node("b"), dir.file("b.log"));
    BOOST_TEST_REQUIRE(b.start(), b.log());
    std::this_thread::sleep_for(300ms);  // b idle, waiting for work

    const auto id = submit(client_a, R"({"type":"noop","payload":{}})");
    BOOST_TEST_REQUIRE(wait_until([&] { return state_of(client_a, id) == "done"; }, 2s));
    const auto job = job_of(client_a, id);
    const auto waited = at(job.at("started_at")) - at(job.at("created_at"));
    BOOST_TEST_MESSAGE("submitted on a, started on b after " << waited << " ms");
    BOOST_TEST(waited < 500);  // a's worker is busy for seconds more
    BOOST_TEST(state_of(client_a, busy) == "processing");
}

// A queue's rate limit is one for all the nodes: two nodes drain 60 jobs of a queue limited
// to 20 starts a second at 20 a second, not 40.
BOOST_AUTO_TEST_CASE(a_rate_limit_holds_across_nodes) {
    TempDir dir;
    ServerProcess a(dir.file("jobs.db"), node("a"), dir.file("a.log"));
    BOOST_TEST_REQUIRE(a.start(), a.log());
    ServerProcess b(dir.file("jobs.db"), node("b"), dir.file("b.log"));
    BOOST_TEST_REQUIRE(b.start(), b.log());
    HttpClient client_a(a.port());
    HttpClient client_b(b.port());
    const auto limited = client_a.request("PATCH", "/queues/slow", R"({"rate_limit":{"per_second":20,"burst":2}})");
    BOOST_TEST_REQUIRE((limited && limited->status == 200));
    std::vector<std::int64_t> ids;
    for (int i = 0; i < 60; ++i)
        ids.push_back(submit(i % 2 ? client_a : client_b, R"({"type":"noop","queue":"slow","payload":{}})"));
    BOOST_TEST_REQUIRE(wait_until([&] { return state_of(client_a, ids.back()) == "done"; }, 30s));
    std::vector<jobq::core::millis> starts;
    for (const auto id : ids) {
        const auto job = job_of(client_a, id);
        BOOST_TEST_REQUIRE(job.at("state").as_string() == "done");
        starts.push_back(at(job.at("started_at")));
    }
    std::sort(starts.begin(), starts.end());
    // The first two take the burst; the other 58 come at 20 a second, whichever node runs them.
    const double rate = 58.0 / (static_cast<double>(starts.back() - starts.front()) / 1000.0);
    BOOST_TEST_MESSAGE("60 starts on two nodes at " << rate << " a second (limit 20)");
    BOOST_TEST(rate <= 22.0);
    BOOST_TEST(rate >= 15.0);
}

// A worker long-polling b for leases is answered as soon as a stores a job it can take.
BOOST_AUTO_TEST_CASE(a_long_poll_on_one_node_is_answered_by_a_job_submitted_to_another) {
    TempDir dir;
    ServerProcess a(dir.file("jobs.db"), node("a"), dir.file("a.log"));
    BOOST_TEST_REQUIRE(a.start(), a.log());
    ServerProcess b(dir.file("jobs.db"), node("b"), dir.file("b.log"));
    BOOST_TEST_REQUIRE(b.start(), b.log());
    auto poll = std::async(std::launch::async, [port = b.port()] {
        HttpClient client(port, 20s);
        return client.post("/leases", R"({"types":["ext"],"worker":"w","wait_ms":15000})");
    });
    std::this_thread::sleep_for(500ms);  // the poll is waiting
    HttpClient client_a(a.port());
    const auto submitted = std::chrono::steady_clock::now();
    const auto id = submit(client_a, R"({"type":"ext","payload":{}})");
    BOOST_TEST_REQUIRE((poll.wait_for(10s) == std::future_status::ready));
    const auto answered = std::chrono::steady_clock::now() - submitted;
    const auto reply = poll.get();
    BOOST_TEST_REQUIRE(reply.has_value());
    BOOST_TEST_REQUIRE(reply->status == 200, reply->body);
    const auto jobs = json::parse(reply->body).at("jobs").as_array();
    BOOST_TEST_REQUIRE(jobs.size() == 1u);
    BOOST_TEST(jobs[0].at("id").as_int64() == id);
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(answered).count();
    BOOST_TEST_MESSAGE("long poll on b answered " << ms << " ms after the submission to a");
    BOOST_TEST(ms < 1000);
}

BOOST_AUTO_TEST_CASE(a_name_is_one_live_nodes) {
    TempDir dir;
    ServerProcess first(dir.file("jobs.db"), node("same"), dir.file("1.log"));
    BOOST_TEST_REQUIRE(first.start(), first.log());
    ServerProcess second(dir.file("jobs.db"), node("same"), dir.file("2.log"));
    BOOST_TEST(!second.start(5s));
    BOOST_TEST((second.exit_code() == std::optional<int>(1)));
    BOOST_TEST(
        second.log().find("is running on this database: give each node a --node-name of its own") != std::string::npos,
        second.log());
    HttpClient client(first.port());
    BOOST_TEST(client.get("/healthz")->status == 200);
}

// Restarted under its name, a node takes back at once the jobs it ran when it died: it
// does not wait for the leader to find it dead.
BOOST_AUTO_TEST_CASE(a_node_restarted_under_its_name_runs_its_jobs_again_at_once) {
    TempDir dir;
    ServerProcess a(dir.file("jobs.db"), node("a"), dir.file("a.log"));
    BOOST_TEST_REQUIRE(a.start(), a.log());
    HttpClient client(a.port());
    const auto id = submit(client, R"({"type":"noop","payload":{"sleep_ms":30000}})");
    BOOST_TEST_REQUIRE(wait_until([&] { return state_of(client, id) == "processing"; }, 10s));
    a.kill();
    ServerProcess again(dir.file("jobs.db"), node("a"), dir.file("a2.log"));
    BOOST_TEST_REQUIRE(again.start(), again.log());
    BOOST_TEST(again.log().find("requeued=1") != std::string::npos, again.log());
    HttpClient client2(again.port());
    BOOST_TEST(wait_until([&] { return job_of(client2, id).at("attempts").as_int64() == 2; }, 3s));
}

// The leader (the first node) is SIGKILLed while it holds the only schedule, a worker's
// lease about to expire, and a long built-in job. The other node takes over: within 15 s
// the lease is reaped and a tick fires, and within three heartbeats (15 s) of the death
// the dead node's job runs again there.
BOOST_AUTO_TEST_CASE(when_the_leader_dies_another_node_takes_over_within_15_s) {
    TempDir dir;
    ServerProcess a(dir.file("jobs.db"), node("a", {"--workers", "1"}), dir.file("a.log"));
    BOOST_TEST_REQUIRE(a.start(), a.log());
    BOOST_TEST_REQUIRE(a.log().find("this node leads") != std::string::npos, a.log());
    HttpClient client_a(a.port());
    const auto running = submit(client_a, R"({"type":"noop","payload":{"sleep_ms":60000}})");
    BOOST_TEST_REQUIRE(wait_until([&] { return state_of(client_a, running) == "processing"; }, 10s));
    const auto leased_job = submit(client_a, R"({"type":"ext","payload":{}})");
    const auto leased = client_a.post("/leases", R"({"types":["ext"],"worker":"w","lease_ms":2000})");
    BOOST_TEST_REQUIRE(leased.has_value());
    BOOST_TEST_REQUIRE(json::parse(leased->body).at("jobs").as_array().size() == 1u, leased->body);
    const auto put = client_a.request("PUT", "/schedules/every-second",
                                      R"({"cron":"@every 1s","job":{"type":"noop","queue":"ticks","payload":{}}})");
    BOOST_TEST_REQUIRE(put.has_value());
    BOOST_TEST_REQUIRE(put->status < 300, put->body);

    ServerProcess b(dir.file("jobs.db"), node("b"), dir.file("b.log"));
    BOOST_TEST_REQUIRE(b.start(), b.log());
    HttpClient client_b(b.port());
    BOOST_TEST(b.log().find("this node leads") == std::string::npos);

    a.kill();
    const auto killed = std::chrono::steady_clock::now();
    const auto killed_ms = jobq::core::system_now_ms();
    // What is left of `limit` since the kill.
    const auto within = [&](std::chrono::seconds limit) {
        return std::chrono::duration_cast<std::chrono::milliseconds>(limit -
                                                                     (std::chrono::steady_clock::now() - killed));
    };

    // The lease expired 2 s after it was taken: reaped by the new leader.
    BOOST_TEST(wait_until([&] { return state_of(client_b, leased_job) == "queued"; }, within(15s)), b.log());
    // A tick after the death, fired by the new leader.
    const auto tick_after_death = [&] {
        const auto page = client_b.get("/jobs?queue=ticks&limit=1000");
        if (!page || page->status != 200) return false;
        const auto body = json::parse(page->body);
        for (const auto& job : body.at("jobs").as_array())
            if (at(job.at("created_at")) > killed_ms) return true;
        return false;
    };
    BOOST_TEST(wait_until(tick_after_death, within(15s)), b.log());
    BOOST_TEST(b.log().find("this node leads") != std::string::npos, b.log());
    // The dead node's job, running again on b (its second attempt).
    BOOST_TEST(wait_until(
                   [&] {
                       const auto job = job_of(client_b, running);
                       return job.at("state").as_string() == "processing" && job.at("attempts").as_int64() == 2;
                   },
                   within(15s)),
               b.log());
    const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - killed);
    BOOST_TEST_MESSAGE("failover: the dead node's job ran again " << took.count() << " ms after the SIGKILL");
}

BOOST_AUTO_TEST_SUITE_END()
