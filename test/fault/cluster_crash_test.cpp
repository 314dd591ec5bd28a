// Nothing answered 201 is lost on many nodes either: three jobq nodes on one PostgreSQL
// database (a cluster of this test's own), clients submitting to each of them (single jobs
// with and without idempotency keys, and batches), external workers leasing, a queue with
// a concurrency limit and a schedule firing every second; the nodes SIGKILLed at random
// and restarted under their names for 20 rounds, and PostgreSQL itself restarted once
// under the load. Afterwards every acknowledged job is done or failed, no tick is lost or
// doubled, and the queue never ran more jobs at once than its limit.

#include "http_client.hpp"
#include "job_db.hpp"
#include "load_clients.hpp"
#include "own_postgres.hpp"
#include "server_process.hpp"
#include "temp_dir.hpp"
#include "wait.hpp"

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <csignal>
#include <random>
#include <thread>

using namespace jobq::test;
using namespace jobq::test::load;
namespace json = boost::json;
using namespace std::chrono_literals;

namespace {

constexpr int nodes = 3;
constexpr int kill_rounds = 20;
constexpr int restart_database_at = kill_rounds / 2;
constexpr std::int64_t limited_concurrency = 2;

// "n0", "n1", ...: built by appending (GCC 12 misreads "n" + std::to_string(n) as an
// overflow).
std::string node_name(int n) {
    std::string name = "n";
    name += std::to_string(n);
    return name;
}

std::vector<std::string> node_args(int n) {
    return {"--node-name",    node_name(n), "--heartbeat-ms",        "1000", "--retry-base-ms",  "50",
            "--retry-max-ms", "200",        "--shutdown-timeout-ms", "2000", "--external-types", "ext"};
}

// The ticks the schedule fired, from its jobs' keys (schedule:every-second:<tick>), sorted.
std::vector<std::int64_t> fired_ticks(const std::string& db) {
    std::vector<std::int64_t> ticks;
    for (const auto& row : query_database(db, "SELECT idempotency_key FROM jobs WHERE queue = 'ticks'")) {
        const auto& key = row.at(0).value();
        ticks.push_back(std::stoll(key.substr(key.rfind(':') + 1)));
    }
    std::sort(ticks.begin(), ticks.end());
    return ticks;
}

// Watches how many jobs of a queue are processing, as the database holds them, over and
// over until told to stop: the most it saw. (The jobs' own start and end times cannot say
// it: a claim records the time it was asked for, and may then wait its turn on the queue.)
class RunningWatch {
public:
    RunningWatch(std::string db, std::string queue) : db_(std::move(db)), queue_(std::move(queue)) {}

    void run(const std::atomic<bool>& stop) {
        const std::string sql = "SELECT count(*) FROM jobs WHERE state = 'processing' AND queue = '" + queue_ + "'";
        while (!stop) {
            try {
                const auto rows = query_database(db_, sql);
                const std::int64_t now_running = std::stoll(rows.at(0).at(0).value());
                most_ = std::max<std::int64_t>(most_.load(), now_running);
                ++looks_;
            } catch (const std::exception&) {
                std::this_thread::sleep_for(50ms);  // the database restarting
            }
        }
    }
    std::int64_t most() const { return most_; }
    std::int64_t looks() const { return looks_; }

private:
    std::string db_;
    std::string queue_;
    std::atomic<std::int64_t> most_{0};
    std::atomic<std::int64_t> looks_{0};
};

}  // namespace

BOOST_AUTO_TEST_SUITE(cluster_crash)

BOOST_AUTO_TEST_CASE(nothing_acknowledged_is_lost_across_sigkills_of_nodes_and_a_database_restart) {
    TempDir dir;
    OwnPostgres postgres;
    const std::string db = postgres.create_database("jobq");
    const auto seed = std::random_device{}();
    BOOST_TEST_MESSAGE("seed " << seed);
    std::mt19937 rng(seed);

    std::array<std::unique_ptr<ServerProcess>, nodes> servers;
    std::array<std::atomic<std::uint16_t>, nodes> ports{};
    const auto start = [&](int n) {
        servers[n] = std::make_unique<ServerProcess>(db, node_args(n), dir.file(node_name(n) + ".log"));
        BOOST_TEST_REQUIRE(servers[n]->start(20s), servers[n]->log());
        ports[n] = servers[n]->port();
    };
    for (int n = 0; n < nodes; ++n) start(n);
    {
        HttpClient client(ports[0].load());
        std::string target = "/queues/";
        target += limited_queue;
        std::string limit = R"({"concurrency":)";
        limit += std::to_string(limited_concurrency);
        limit += '}';
        const auto limited = client.request("PATCH", target, limit);
        BOOST_TEST_REQUIRE((limited && limited->status == 200));
        const auto schedule = client.request(
            "PUT", "/schedules/every-second",
            R"({"cron":"@every 1s","catch_up":"all","job":{"type":"noop","payload":{},"queue":"ticks"}})");
        BOOST_TEST_REQUIRE((schedule && schedule->status == 201));
    }

    std::atomic<bool> stop{false};
    std::vector<std::unique_ptr<Submitter>> submitters;
    std::vector<std::thread> threads;
    const auto submit_to = [&](int n, SubmitterOptions options) {
        submitters.push_back(
            std::make_unique<Submitter>(ports[n], rng(), options, static_cast<int>(submitters.size())));
        threads.emplace_back([&, s = submitters.back().get()] { s->run(stop); });
    };
    for (int n = 0; n < nodes; ++n) submit_to(n, {.keyed = n != 1, .limited = true});
    submit_to(1, {.batches = true, .limited = true});

    std::atomic<bool> stop_workers{false};
    std::vector<std::unique_ptr<ExternalWorker>> workers;
    std::vector<std::thread> worker_threads;
    for (int n = 1; n < nodes; ++n) {
        workers.push_back(std::make_unique<ExternalWorker>(ports[n], rng()));
        worker_threads.emplace_back([&, w = workers.back().get()] { w->run(stop_workers); });
    }

    RunningWatch watch(db, limited_queue);
    std::thread watcher([&] { watch.run(stop_workers); });

    // kill_rounds SIGKILLs of nodes, and the database's restart among them.
    for (int round = 0; round <= kill_rounds; ++round) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100 + rng() % 500));
        if (round == restart_database_at) {
            postgres.restart();  // every node's connections break under the load
            continue;
        }
        const int n = static_cast<int>(rng() % nodes);
        if (round % 4 == 3) {
            servers[n]->signal(SIGTERM);  // killed in the middle of a graceful shutdown
            std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 100));
        }
        servers[n]->kill();
        start(n);
    }
    std::this_thread::sleep_for(300ms);
    stop = true;
    for (auto& t : threads) t.join();

    std::map<std::int64_t, std::string> acked;
    std::size_t ids_repeated = 0, found_by_key = 0;
    for (const auto& s : submitters) {
        BOOST_TEST(s->answers_malformed() == 0u);
        ids_repeated += s->ids_repeated();
        found_by_key += s->found_by_key();
        for (const auto& [id, mark] : s->acked()) ids_repeated += !acked.emplace(id, mark).second;
    }
    BOOST_TEST(ids_repeated == 0u);
    BOOST_TEST_REQUIRE(acked.size() > 1000u);

    const auto drain_started = std::chrono::steady_clock::now();
    Tally t;
    const bool all_final = wait_until(
        [&] {
            t = tally(db, acked);
            return t.lost == 0 && t.not_final == 0;
        },
        120s, 250ms);
    BOOST_TEST_MESSAGE("drained in " << std::chrono::duration_cast<std::chrono::milliseconds>(
                                            std::chrono::steady_clock::now() - drain_started)
                                            .count()
                                     << " ms");
    BOOST_TEST_MESSAGE("cluster crash loop: " << kill_rounds << " SIGKILLs of nodes and a database restart, "
                                              << acked.size() << " acknowledged (" << found_by_key
                                              << " by a keyed retry), " << t.lost << " lost, " << t.not_final
                                              << " not final, " << t.ran_more_than_once << " ran more than once");
    BOOST_TEST(t.lost == 0u);
    BOOST_TEST(t.not_final == 0u);
    BOOST_TEST(all_final);
    stop_workers = true;
    for (auto& w : worker_threads) w.join();
    watcher.join();
    BOOST_TEST(query_database(db, "SELECT id FROM jobs WHERE state = 'processing' AND queue <> 'ticks'").empty());

    // Fencing: one ack accepted per job, for the attempt that ended it.
    const auto rows = job_rows(db);
    std::size_t external_acks = 0, acks_of_another_attempt = 0, acks_twice = 0;
    std::map<std::int64_t, int> per_job;
    for (const auto& w : workers) {
        for (const auto& [id, attempt] : w->acked()) {
            ++external_acks;
            acks_twice += ++per_job[id] == 2;
            const auto row = rows.find(id);
            if (row == rows.end() || row->second.state != "done" || row->second.attempts != attempt)
                ++acks_of_another_attempt;
        }
    }
    BOOST_TEST(external_acks > 100u);
    BOOST_TEST(acks_twice == 0u);
    BOOST_TEST(acks_of_another_attempt == 0u);

    // Every tick from the first to the last, once each: none lost to a leader's death, none
    // fired twice by two leaders.
    const auto ticks = fired_ticks(db);
    BOOST_TEST_REQUIRE(ticks.size() >= 5u);
    std::size_t gaps = 0, doubled = 0;
    for (std::size_t i = 1; i < ticks.size(); ++i) {
        doubled += ticks[i] == ticks[i - 1];
        gaps += ticks[i] - ticks[i - 1] > 1'000;
    }
    BOOST_TEST_MESSAGE("schedule: " << ticks.size() << " ticks, " << gaps << " lost, " << doubled << " doubled");
    BOOST_TEST(gaps == 0u);
    BOOST_TEST(doubled == 0u);

    BOOST_TEST_MESSAGE("queue \"" << limited_queue << "\": at most " << watch.most() << " processing at once in "
                                  << watch.looks() << " looks (limit " << limited_concurrency << ")");
    BOOST_TEST(watch.most() <= limited_concurrency);
    BOOST_TEST(watch.most() >= 1);  // it did look while the queue was busy

    // The counts every node keeps equal a count over the jobs.
    BOOST_TEST((jobs_per_queue_and_state(db, "job_counts") == jobs_per_queue_and_state(db, "jobs")));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(database_outage)

// PostgreSQL stopped under a node: submissions and /readyz answer 503 with the error's
// JSON body, nothing is stored; once it is back the node serves again by itself, and what
// it acknowledged before runs.
BOOST_AUTO_TEST_CASE(while_postgresql_is_down_submissions_get_503_and_the_node_recovers_by_itself) {
    TempDir dir;
    OwnPostgres postgres;
    const std::string db = postgres.create_database("jobq");
    ServerProcess server(db, {"--node-name", "n0", "--retry-base-ms", "50"}, dir.file("log"));
    BOOST_TEST_REQUIRE(server.start(20s), server.log());
    HttpClient client(server.port(), 15s);
    const auto before = client.post("/jobs", R"({"type":"noop","payload":{"sleep_ms":100}})");
    BOOST_TEST_REQUIRE((before && before->status == 201));
    const auto before_id = json::parse(before->body).at("id").as_int64();

    postgres.halt();
    const auto refused = client.post("/jobs", R"({"type":"noop","payload":{}})");
    BOOST_TEST_REQUIRE(refused.has_value());
    BOOST_TEST(refused->status == 503, refused->body);
    BOOST_TEST(json::parse(refused->body).at("error").at("code").as_string() == "storage_unavailable", refused->body);
    const auto not_ready = client.get("/readyz");
    BOOST_TEST_REQUIRE(not_ready.has_value());
    BOOST_TEST(not_ready->status == 503, not_ready->body);
    BOOST_TEST(client.get("/healthz")->status == 200);  // the process itself is fine

    postgres.resume();
    std::int64_t after_id = 0;
    BOOST_TEST(wait_until(
                   [&] {
                       const auto r = client.post("/jobs", R"({"type":"noop","payload":{}})");
                       if (!r || r->status != 201) return false;
                       after_id = json::parse(r->body).at("id").as_int64();
                       return true;
                   },
                   20s, 100ms),
               server.log());
    BOOST_TEST(wait_until([&] { return client.get("/readyz")->status == 200; }, 10s));
    const auto done = [&](std::int64_t id) {
        const auto r = client.get("/jobs/" + std::to_string(id));
        return r && r->status == 200 && json::parse(r->body).at("state").as_string() == "done";
    };
    BOOST_TEST(wait_until([&] { return done(before_id) && done(after_id); }, 20s), server.log());
    // None of the submissions refused meanwhile was stored: the two acknowledged are all
    // there is.
    BOOST_TEST(query_database(db, "SELECT id FROM jobs").size() == 2u);
}

BOOST_AUTO_TEST_SUITE_END()
