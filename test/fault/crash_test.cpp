// A job answered 201 is never lost: clients submit single jobs and large batches while the
// server is SIGKILLed at random moments (some of them in the middle of a graceful
// shutdown) and restarted, round after round; afterwards every acknowledged job must
// reach a final state. One job in four is of an external type, run by worker threads that
// lease and settle in batches over HTTP all along: every ack the server accepted must be
// for the attempt that ended the job. The loop reports what it saw: acknowledged, lost, not final, and
// jobs that ran more than once (allowed: delivery is at least once).

#include "http_client.hpp"
#include "job_db.hpp"
#include "load_clients.hpp"
#include "server_process.hpp"
#include "temp_dir.hpp"
#include "wait.hpp"

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include <atomic>
#include <csignal>
#include <random>
#include <map>
#include <set>
#include <thread>

using namespace jobq::test;
using namespace jobq::test::load;
namespace json = boost::json;
using namespace std::chrono_literals;

namespace {

constexpr int kill_rounds = 20;
constexpr int single_submitters = 3;
constexpr int batch_submitters = 1;
constexpr int external_workers = 2;
const std::vector<std::string> server_args{"--retry-base-ms", "50", "--retry-max-ms", "200",
                                           "--shutdown-timeout-ms", "2000", "--external-types", "ext"};

}  // namespace

BOOST_AUTO_TEST_SUITE(crash)

BOOST_AUTO_TEST_CASE(nothing_acknowledged_is_lost_across_sigkills) {
    TempDir dir;
    const std::string db = dir.file("jobs.db");
    const auto seed = std::random_device{}();
    BOOST_TEST_MESSAGE("seed " << seed);
    std::mt19937 rng(seed);
    std::atomic<std::uint16_t> port{0};
    std::atomic<bool> stop{false};

    auto server = std::make_unique<ServerProcess>(db, server_args, dir.file("log"));
    BOOST_TEST_REQUIRE(server->start(), server->log());
    port = server->port();

    std::vector<std::unique_ptr<Submitter>> submitters;
    std::vector<std::thread> threads;
    for (int i = 0; i < single_submitters + batch_submitters; ++i) {
        submitters.push_back(std::make_unique<Submitter>(port, rng(), i >= single_submitters, i));
        threads.emplace_back([&, s = submitters.back().get()] { s->run(stop); });
    }

    std::atomic<bool> stop_workers{false};
    std::vector<std::unique_ptr<ExternalWorker>> workers;
    std::vector<std::thread> worker_threads;
    for (int i = 0; i < external_workers; ++i) {
        workers.push_back(std::make_unique<ExternalWorker>(port, rng()));
        worker_threads.emplace_back([&, w = workers.back().get()] { w->run(stop_workers); });
    }

    int during_shutdown = 0;
    for (int round = 0; round < kill_rounds; ++round) {
        // A random moment under load: single and batch enqueues, claims and outcomes all in flight.
        std::this_thread::sleep_for(std::chrono::milliseconds(100 + rng() % 500));
        if (round % 4 == 3) {
            // In the middle of a graceful shutdown: draining, requeueing, checkpointing.
            server->signal(SIGTERM);
            std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 100));
            ++during_shutdown;
        }
        server->kill();
        server = std::make_unique<ServerProcess>(db, server_args, dir.file("log"));
        BOOST_TEST_REQUIRE(server->start(), server->log());
        port = server->port();
    }
    std::this_thread::sleep_for(300ms);
    stop = true;
    for (auto& t : threads) t.join();

    std::map<std::int64_t, std::string> acked;
    std::size_t ids_repeated = 0;
    for (const auto& s : submitters) {
        BOOST_TEST(s->answers_malformed() == 0u);
        ids_repeated += s->ids_repeated();
        for (const auto& [id, mark] : s->acked()) ids_repeated += !acked.emplace(id, mark).second;
    }
    BOOST_TEST(ids_repeated == 0u);  // no id is ever handed out twice
    BOOST_TEST_REQUIRE(acked.size() > 1000u);

    // Drain: the last server runs every job to a final state.
    Tally t;
    const bool all_final = wait_until(
        [&] {
            t = tally(db, acked);
            return t.lost == 0 && t.not_final == 0;
        },
        90s, 200ms);
    BOOST_TEST_MESSAGE("crash loop: " << kill_rounds << " SIGKILLs (" << during_shutdown << " during shutdown), "
                                      << acked.size() << " acknowledged, " << t.lost << " lost, " << t.not_final
                                      << " not final, " << t.ran_more_than_once << " ran more than once");
    BOOST_TEST(t.lost == 0u);
    BOOST_TEST(t.not_final == 0u);
    BOOST_TEST(all_final);
    stop_workers = true;
    for (auto& t : worker_threads) t.join();

    // Fencing across crashes: one ack accepted per job, for the attempt that ended it.
    const auto rows = job_rows(db);
    std::size_t external_acks = 0, acks_twice = 0, acks_of_another_attempt = 0;
    for (const auto& w : workers) {
        for (auto it = w->acked().begin(); it != w->acked().end(); ++it) {
            ++external_acks;
            const auto row = rows.find(it->first);
            if (row == rows.end() || row->second.state != "done" || row->second.attempts != it->second)
                ++acks_of_another_attempt;
        }
    }
    std::map<std::int64_t, int> per_job;
    for (const auto& w : workers)
        for (const auto& [id, attempt] : w->acked()) acks_twice += ++per_job[id] == 2;
    BOOST_TEST_MESSAGE("external workers: " << external_acks << " acks accepted");
    BOOST_TEST(external_acks > 100u);
    BOOST_TEST(acks_twice == 0u);
    BOOST_TEST(acks_of_another_attempt == 0u);

    // The counts the last server keeps (loaded as it started after a SIGKILL, then kept as
    // the jobs ran) equal a count over the jobs, in memory (/stats) and on disk.
    const auto counted = jobs_per_queue_and_state(db, "jobs");
    BOOST_TEST((jobs_per_queue_and_state(db, "job_counts") == counted));
    HttpClient client(server->port());
    const auto reply = client.get("/stats");
    BOOST_TEST_REQUIRE(reply.has_value());
    const auto stats = json::parse(reply->body);
    std::map<std::string, std::int64_t> shown;
    for (const auto& [queue, states] : stats.at("queues").as_object())
        for (const auto& [state, n] : states.as_object())
            if (n.as_int64() != 0) shown[std::string(queue) + "/" + std::string(state)] = n.as_int64();
    BOOST_TEST((shown == counted));
}

BOOST_AUTO_TEST_SUITE_END()
