// Queue settings through the real server, for the built-in workers and for external
// leases: a paused queue starts nothing, a concurrency limit caps its jobs processing, a
// rate limit spreads its starts, weights share the workers, a backlog delays another
// queue's jobs by about one claim round, and the settings survive a restart. Start and
// finish times are read from the database file after the fact.

#include "job_db.hpp"
#include "server_fixture.hpp"
#include "wait.hpp"

#include "core/clock.hpp"

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

using namespace jobq::test;
namespace json = boost::json;
using namespace std::chrono_literals;

namespace {

std::string noop_in(const std::string& queue, int sleep_ms = 0, const std::string& more = {}) {
    return R"({"type":"noop","queue":")" + queue + R"(","payload":{"sleep_ms":)" + std::to_string(sleep_ms) + "}" +
           more + "}";
}

// Stores `n` copies of `job` through POST /jobs/batch, a thousand at a time.
void submit_many(Server& s, int n, const std::string& job) {
    for (int done = 0; done < n;) {
        const int now = std::min(1'000, n - done);
        std::string body = R"({"jobs":[)";
        for (int i = 0; i < now; ++i) body += (i ? "," : "") + job;
        body += "]}";
        const auto r = s.post("/jobs/batch", body);
        BOOST_TEST_REQUIRE(r.status == 201u, r.body);
        done += now;
    }
}

HttpReply patch(Server& s, const std::string& queue, const std::string& body) {
    return s.request("PATCH", "/queues/" + queue, body);
}

json::object queue_of(Server& s, const std::string& queue) {
    const auto r = s.get("/queues/" + queue);
    BOOST_TEST_REQUIRE(r.status == 200u, r.body);
    return json::parse(r.body).as_object();
}

std::int64_t count_in(Server& s, const std::string& queue, const std::string& state) {
    return queue_of(s, queue).at("counts").at(state).as_int64();
}

std::vector<JobRun> runs_in(const std::vector<JobRun>& runs, const std::string& queue) {
    std::vector<JobRun> out;
    std::copy_if(runs.begin(), runs.end(), std::back_inserter(out), [&](const JobRun& r) { return r.queue == queue; });
    return out;
}

// The most jobs that were processing at once: a finish at the same millisecond as a start
// came first (the next job is claimed only once the last one's outcome is recorded).
int most_at_once(const std::vector<JobRun>& runs) {
    std::vector<std::pair<std::int64_t, int>> events;
    for (const auto& r : runs) {
        events.emplace_back(r.started_at, +1);
        events.emplace_back(r.finished_at, -1);
    }
    std::sort(events.begin(), events.end());  // -1 sorts before +1 at equal times
    int now = 0, most = 0;
    for (const auto& [at, step] : events) most = std::max(most, now += step);
    return most;
}

struct ExternalServer : Server {
    ExternalServer() : Server({"--external-types", "ext"}) {}

    // POST /leases for up to `max` ext jobs; their ids and tokens.
    std::vector<std::pair<std::int64_t, std::string>> lease(int max, int wait_ms = 0) {
        const auto r = post("/leases", R"({"types":["ext"],"max":)" + std::to_string(max) +
                                           R"(,"wait_ms":)" + std::to_string(wait_ms) + "}");
        BOOST_TEST_REQUIRE(r.status == 200u, r.body);
        std::vector<std::pair<std::int64_t, std::string>> leased;
        const auto parsed = json::parse(r.body);  // kept: a range-for over a temporary's member dangles
        for (const auto& j : parsed.at("jobs").as_array())
            leased.emplace_back(j.at("id").as_int64(), std::string(j.at("lease").at("token").as_string()));
        return leased;
    }
    void ack(const std::pair<std::int64_t, std::string>& lease) {
        const auto r = post("/jobs/" + std::to_string(lease.first) + "/ack",
                            R"({"token":")" + lease.second + R"("})");
        BOOST_TEST_REQUIRE(r.status == 200u, r.body);
    }
};

std::string ext_in(const std::string& queue) { return R"({"type":"ext","queue":")" + queue + R"(","payload":{}})"; }

}  // namespace

BOOST_AUTO_TEST_SUITE(queue_settings)

BOOST_FIXTURE_TEST_CASE(settings_are_shown_changed_and_checked, Server) {
    BOOST_TEST(get("/queues/mail").status == 404u);
    auto r = patch(*this, "mail", R"({"paused":true,"concurrency":3,"rate_limit":{"per_second":14,"burst":14},"weight":5})");
    BOOST_TEST_REQUIRE(r.status == 200u, r.body);
    const auto q = json::parse(r.body).as_object();
    BOOST_TEST(q.at("name").as_string() == "mail");
    BOOST_TEST(q.at("paused").as_bool());
    BOOST_TEST(q.at("concurrency").as_int64() == 3);
    BOOST_TEST(q.at("rate_limit").at("per_second").to_number<double>() == 14.0);
    BOOST_TEST(q.at("rate_limit").at("burst").as_int64() == 14);
    BOOST_TEST(q.at("weight").as_int64() == 5);
    BOOST_TEST(q.at("counts").at("queued").as_int64() == 0);
    BOOST_TEST(q.at("oldest_runnable_age_ms").is_null());
    BOOST_TEST(q.at("finished_last_minute").as_int64() == 0);
    BOOST_TEST((json::value(queue_of(*this, "mail")) == json::value(q)));  // as GET shows it

    // Only what is named changes; null lifts a limit.
    r = patch(*this, "mail", R"({"concurrency":null,"rate_limit":null})");
    BOOST_TEST_REQUIRE(r.status == 200u, r.body);
    BOOST_TEST(json::parse(r.body).at("concurrency").is_null());
    BOOST_TEST(json::parse(r.body).at("rate_limit").is_null());
    BOOST_TEST(json::parse(r.body).at("weight").as_int64() == 5);
    BOOST_TEST(post("/queues/mail/resume", "").status == 200u);
    BOOST_TEST(!queue_of(*this, "mail").at("paused").as_bool());
    BOOST_TEST(json::parse(post("/queues/mail/pause", "").body).at("paused").as_bool());

    // A queue named by a job is listed too, with the defaults.
    submit(noop_in("other"));
    const auto all = json::parse(get("/queues").body).at("queues").as_array();
    BOOST_TEST_REQUIRE(all.size() == 2u);
    BOOST_TEST(all[0].at("name").as_string() == "mail");
    BOOST_TEST(all[1].at("name").as_string() == "other");
    BOOST_TEST(all[1].at("weight").as_int64() == 1);
    BOOST_TEST(!all[1].at("paused").as_bool());

    const std::pair<const char*, const char*> refused[] = {
        {R"({"colour":"red"})", "unknown_field"},
        {R"({"paused":"yes"})", "invalid_field"},
        {R"({"concurrency":0})", "invalid_field"},
        {R"({"concurrency":100001})", "invalid_field"},
        {R"({"concurrency":1.5})", "invalid_field"},
        {R"({"weight":0})", "invalid_field"},
        {R"({"weight":1001})", "invalid_field"},
        {R"({"rate_limit":{"per_second":0,"burst":1}})", "invalid_field"},
        {R"({"rate_limit":{"per_second":5}})", "invalid_field"},
        {R"({"rate_limit":{"per_second":5,"burst":0}})", "invalid_field"},
        {R"({"rate_limit":{"per_second":5,"burst":1,"x":1}})", "unknown_field"},
        {R"({"rate_limit":5})", "invalid_field"},
        {R"([])", "invalid_json"},
        {R"({"weight":)", "invalid_json"},
    };
    for (const auto& [body, code] : refused) {
        const auto reply = patch(*this, "mail", body);
        BOOST_TEST(reply.status == 400u, body);
        BOOST_TEST(error_code(reply) == code, body);
    }
    BOOST_TEST(client->request("PATCH", "/queues/mail", R"({"weight":2})", "text/plain")->status == 415u);
    for (const std::string& name : {std::string(129, 'q'), std::string("%FF"), std::string("a%00b"), std::string("%0A")}) {
        const auto reply = patch(*this, name, R"({"weight":2})");
        BOOST_TEST(reply.status == 400u, name);
        BOOST_TEST(error_code(reply) == "invalid_name", name);
    }
    // A queue nothing else names, changed back to the defaults: answered as it is now.
    const auto paused = post("/queues/empty/pause", "");
    BOOST_TEST(paused.status == 200u);
    const auto resumed = post("/queues/empty/resume", "");
    BOOST_TEST_REQUIRE(resumed.status == 200u, resumed.body);
    BOOST_TEST(!json::parse(resumed.body).at("paused").as_bool());
    BOOST_TEST(get("/queues/empty").status == 404u);  // forgotten: no job and no setting names it
    BOOST_TEST(queue_of(*this, "mail").at("weight").as_int64() == 5);  // nothing refused changed anything

    const auto metrics = get("/metrics").body;
    BOOST_TEST(metrics.find("jobq_queue_paused{queue=\"mail\"} 1") != std::string::npos, metrics);
    BOOST_TEST(metrics.find("jobq_queue_paused{queue=\"other\"} 0") != std::string::npos, metrics);
    patch(*this, "mail", R"({"concurrency":7})");
    BOOST_TEST(get("/metrics").body.find("jobq_queue_concurrency_limit{queue=\"mail\"} 7") != std::string::npos);
    const auto stats = json::parse(get("/stats").body);
    BOOST_TEST(stats.at("queue_settings").at("mail").at("concurrency").as_int64() == 7);
    BOOST_TEST(!stats.at("queue_settings").as_object().contains("other"));
}

BOOST_FIXTURE_TEST_CASE(a_paused_queue_starts_nothing_until_it_is_resumed, Server) {
    BOOST_TEST_REQUIRE(post("/queues/held/pause", "").status == 200u);
    std::vector<std::int64_t> held;
    for (int i = 0; i < 20; ++i) held.push_back(submit(noop_in("held")));  // each answered 201
    // Jobs of another queue, stored after them, run meanwhile: the dispatcher has looked.
    const auto other = submit(noop_in("other"));
    BOOST_TEST_REQUIRE(wait_until([&] { return state_of(other) == "done"; }, 15s));
    for (const auto id : held) {
        BOOST_TEST(state_of(id) == "queued");
        BOOST_TEST(job(id).at("started_at").is_null());
    }
    BOOST_TEST(count_in(*this, "held", "queued") == 20);
    BOOST_TEST_REQUIRE(post("/queues/held/resume", "").status == 200u);
    BOOST_TEST(wait_until([&] { return count_in(*this, "held", "done") == 20; }, 15s));
}

BOOST_FIXTURE_TEST_CASE(a_running_job_finishes_when_its_queue_is_paused, Server) {
    const auto id = submit(noop_in("q", 1'000));
    BOOST_TEST_REQUIRE(wait_until([&] { return state_of(id) == "processing"; }, 15s));
    BOOST_TEST_REQUIRE(post("/queues/q/pause", "").status == 200u);
    BOOST_TEST(wait_until([&] { return state_of(id) == "done"; }, 15s));
}

struct SixteenWorkers : Server {
    SixteenWorkers() : Server({"--workers", "16"}) {}
};

BOOST_FIXTURE_TEST_CASE(a_concurrency_limit_caps_the_jobs_processing_at_once, SixteenWorkers) {
    BOOST_TEST_REQUIRE(patch(*this, "limited", R"({"concurrency":3})").status == 200u);
    submit_many(*this, 100, noop_in("limited", 200));
    submit_many(*this, 20, noop_in("free", 200));  // the other workers stay busy elsewhere
    BOOST_TEST_REQUIRE(wait_until([&] { return count_in(*this, "limited", "done") == 100; }, 30s));
    const auto runs = job_runs(dir.file("jobs.db"));
    BOOST_TEST(most_at_once(runs_in(runs, "limited")) == 3);
    BOOST_TEST(most_at_once(runs_in(runs, "free")) > 3);
}

BOOST_FIXTURE_TEST_CASE(a_rate_limit_spreads_the_starts, Server) {
    // A burst of 2: a timer that fires a little late (a busy machine) loses no token.
    BOOST_TEST_REQUIRE(patch(*this, "slow", R"({"rate_limit":{"per_second":20,"burst":2}})").status == 200u);
    submit_many(*this, 100, noop_in("slow"));
    BOOST_TEST_REQUIRE(wait_until([&] { return count_in(*this, "slow", "done") == 100; }, 30s));
    const auto runs = job_runs(dir.file("jobs.db"));
    BOOST_TEST_REQUIRE(runs.size() == 100u);
    // The first two starts take the burst; the other 98 come at 20 a second.
    const double seconds = static_cast<double>(runs.back().started_at - runs.front().started_at) / 1000.0;
    const double rate = 98.0 / seconds;
    BOOST_TEST_MESSAGE("100 starts at " << rate << " a second");
    BOOST_TEST(rate >= 18.0);
    BOOST_TEST(rate <= 22.0);
}

struct FourWorkers : Server {
    FourWorkers() : Server({"--workers", "4"}) {}
};

BOOST_FIXTURE_TEST_CASE(weights_share_the_workers_while_both_queues_have_jobs, FourWorkers) {
    BOOST_TEST_REQUIRE(patch(*this, "heavy", R"({"weight":3})").status == 200u);
    // Both backlogs come due at the same instant.
    const auto due = jobq::core::format_rfc3339(jobq::core::system_now_ms() + 3'000);
    const std::string at = R"(,"run_at":")" + due + "\"";
    submit_many(*this, 1'500, noop_in("heavy", 0, at));
    submit_many(*this, 1'500, noop_in("light", 0, at));
    BOOST_TEST_REQUIRE(wait_until([&] { return count_in(*this, "heavy", "done") == 1'500; }, 60s));
    const auto runs = job_runs(dir.file("jobs.db"));
    // Until the heavy queue ran out, both had jobs.
    const auto heavy_last = runs_in(runs, "heavy").back().started_at;
    std::map<std::string, int> started;
    for (const auto& r : runs)
        if (r.started_at < heavy_last) ++started[r.queue];
    const double ratio = static_cast<double>(started["heavy"]) / started["light"];
    BOOST_TEST_MESSAGE("heavy " << started["heavy"] << ", light " << started["light"] << ": " << ratio);
    BOOST_TEST(ratio >= 2.7);
    BOOST_TEST(ratio <= 3.3);
}

struct EightWorkers : Server {
    EightWorkers() : Server({"--workers", "8"}) {}
};

// Equal weights: from when the tx jobs are stored, each waits behind at most two claim
// rounds of bulk jobs (2 × workers) beyond the bulk queue's equal share (one bulk start
// for each tx start).
BOOST_FIXTURE_TEST_CASE(a_backlog_delays_another_queue_by_about_one_claim_round, EightWorkers) {
    constexpr int workers = 8;
    BOOST_TEST_REQUIRE(post("/queues/bulk/pause", "").status == 200u);
    submit_many(*this, 200'000, noop_in("bulk"));
    BOOST_TEST_REQUIRE(post("/queues/bulk/resume", "").status == 200u);
    BOOST_TEST_REQUIRE(wait_until([&] { return count_in(*this, "bulk", "done") >= 1'000; }, 30s));
    submit_many(*this, 100, noop_in("tx"));
    BOOST_TEST_REQUIRE(wait_until([&] { return count_in(*this, "tx", "done") == 100; }, 30s));
    BOOST_TEST_REQUIRE(count_in(*this, "bulk", "queued") > 0);  // bulk still had a backlog
    const auto runs = job_runs(dir.file("jobs.db"));
    const auto tx = runs_in(runs, "tx");
    BOOST_TEST_REQUIRE(tx.size() == 100u);
    const auto stored_at = tx.front().created_at;  // one batch, one transaction
    std::int64_t worst = 0;
    for (std::size_t i = 0; i < tx.size(); ++i) {
        const auto bulk_before = std::count_if(runs.begin(), runs.end(), [&](const JobRun& r) {
            return r.queue == "bulk" && r.started_at > stored_at && r.started_at < tx[i].started_at;
        });
        worst = std::max<std::int64_t>(worst, bulk_before - static_cast<std::int64_t>(i));
        BOOST_TEST(bulk_before <= 2 * workers + static_cast<std::int64_t>(i), "tx job " << i);
    }
    BOOST_TEST_MESSAGE("bulk starts before a tx job beyond its equal share: at most " << worst);
}

BOOST_AUTO_TEST_CASE(settings_survive_a_restart) {
    TempDir dir;
    ServerProcess server(dir.file("jobs.db"), {}, dir.file("log"));
    BOOST_TEST_REQUIRE(server.start(), server.log());
    std::int64_t held = 0;
    {
        HttpClient c(server.port());
        BOOST_TEST_REQUIRE(c.request("PATCH", "/queues/q", R"({"paused":true,"concurrency":2,"rate_limit":{"per_second":0.5,"burst":3},"weight":7})")->status == 200u);
        const auto r = c.request("POST", "/jobs", noop_in("q"));
        BOOST_TEST_REQUIRE(r->status == 201u);
        held = json::parse(r->body).at("id").as_int64();
    }
    BOOST_TEST_REQUIRE(server.restart_on_same_port(), server.log());
    HttpClient c(server.port());
    const auto q = json::parse(c.request("GET", "/queues/q")->body);
    BOOST_TEST(q.at("paused").as_bool());
    BOOST_TEST(q.at("concurrency").as_int64() == 2);
    BOOST_TEST(q.at("rate_limit").at("per_second").to_number<double>() == 0.5);
    BOOST_TEST(q.at("rate_limit").at("burst").as_int64() == 3);
    BOOST_TEST(q.at("weight").as_int64() == 7);
    // Still paused: a job of another queue runs, this one does not.
    const auto other = json::parse(c.request("POST", "/jobs", noop_in("other"))->body).at("id").as_int64();
    const auto state = [&](std::int64_t id) {
        return std::string(json::parse(c.request("GET", "/jobs/" + std::to_string(id))->body).at("state").as_string());
    };
    BOOST_TEST_REQUIRE(wait_until([&] { return state(other) == "done"; }, 15s));
    BOOST_TEST(state(held) == "queued");
    BOOST_TEST_REQUIRE(c.request("POST", "/queues/q/resume", "")->status == 200u);
    BOOST_TEST(wait_until([&] { return state(held) == "done"; }, 15s));
}

BOOST_FIXTURE_TEST_CASE(leases_obey_pause_concurrency_and_weights, ExternalServer) {
    BOOST_TEST_REQUIRE(post("/queues/a/pause", "").status == 200u);
    submit_many(*this, 20, ext_in("a"));
    BOOST_TEST(lease(10).empty());
    BOOST_TEST_REQUIRE(patch(*this, "a", R"({"paused":false,"concurrency":2})").status == 200u);
    auto leased = lease(10);
    BOOST_TEST_REQUIRE(leased.size() == 2u);
    BOOST_TEST(lease(10).empty());
    ack(leased[0]);
    BOOST_TEST(lease(10).size() == 1u);

    // Weights: 3:1 over the leases, while both queues have jobs (each lease of 8 is one
    // queue's turn; the shares are kept over consecutive turns).
    submit_many(*this, 400, ext_in("b"));
    submit_many(*this, 400, ext_in("c"));
    BOOST_TEST_REQUIRE(patch(*this, "b", R"({"weight":3})").status == 200u);
    std::map<std::string, int> per_queue;
    for (int round = 0; round < 40; ++round) {
        const auto leased_now = lease(8);
        BOOST_TEST_REQUIRE(leased_now.size() == 8u);
        for (const auto& [id, token] : leased_now) ++per_queue[std::string(job(id).at("queue").as_string())];
    }
    const double ratio = static_cast<double>(per_queue["b"]) / per_queue["c"];
    BOOST_TEST_MESSAGE("leased b " << per_queue["b"] << ", c " << per_queue["c"]);
    BOOST_TEST(ratio >= 2.6);
    BOOST_TEST(ratio <= 3.4);
}

BOOST_FIXTURE_TEST_CASE(a_long_poll_held_back_by_a_rate_limit_wakes_for_the_next_token, ExternalServer) {
    BOOST_TEST_REQUIRE(patch(*this, "r", R"({"rate_limit":{"per_second":4,"burst":1}})").status == 200u);
    submit_many(*this, 3, ext_in("r"));
    BOOST_TEST(lease(10).size() == 1u);
    BOOST_TEST(lease(10).empty());  // no token left
    // No enqueue or settlement wakes it: the token's timer does, about 250 ms on.
    const auto asked = std::chrono::steady_clock::now();
    const auto next = lease(10, 5'000);
    const auto waited = std::chrono::steady_clock::now() - asked;
    BOOST_TEST(next.size() == 1u);
    BOOST_TEST(waited < 2s);
}

// A queue's concurrency counts built-in runs and external leases together.
BOOST_FIXTURE_TEST_CASE(a_concurrency_limit_counts_leases_and_built_in_runs_together, ExternalServer) {
    BOOST_TEST_REQUIRE(patch(*this, "mixed", R"({"concurrency":1})").status == 200u);
    submit(ext_in("mixed"));
    const auto leased = lease(1);
    BOOST_TEST_REQUIRE(leased.size() == 1u);
    const auto builtin = submit(noop_in("mixed"));
    const auto other = submit(noop_in("elsewhere"));
    BOOST_TEST_REQUIRE(wait_until([&] { return state_of(other) == "done"; }, 15s));
    BOOST_TEST(state_of(builtin) == "queued");  // the lease holds the one place
    ack(leased.front());
    BOOST_TEST(wait_until([&] { return state_of(builtin) == "done"; }, 15s));
}

BOOST_AUTO_TEST_SUITE_END()
