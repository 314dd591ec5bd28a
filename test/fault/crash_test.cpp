// A job answered 201 is never lost: clients submit while the server is SIGKILLed and
// restarted, again and again; afterwards every acknowledged job must be done.

#include "http_client.hpp"
#include "job_db.hpp"
#include "server_process.hpp"
#include "temp_dir.hpp"
#include "wait.hpp"

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include <atomic>
#include <mutex>
#include <random>
#include <set>
#include <thread>

using namespace jobq::test;
namespace json = boost::json;
using namespace std::chrono_literals;

namespace {

constexpr int kill_rounds = 6;
constexpr int client_threads = 4;

// Submits until told to stop; records the id of every job answered 201. A request the
// server died under is simply not acknowledged, so it is not counted.
class Submitter {
public:
    Submitter(std::atomic<std::uint16_t>& port, unsigned seed) : port_(port), rng_(seed) {}

    void run(const std::atomic<bool>& stop) {
        while (!stop) {
            HttpClient client(port_.load(), 2s);
            for (int i = 0; i < 50 && !stop; ++i) {
                const auto r = client.post("/jobs", next_body());
                if (!r) break;  // the server is down: reconnect to wherever it is now
                if (r->status == 201) acked_.insert(json::parse(r->body).at("id").as_int64());
            }
        }
    }

    const std::set<std::int64_t>& acked() const { return acked_; }

private:
    std::string next_body() {
        // Mixed jobs: most instant, some sleeping up to 300 ms so kills land mid-run.
        const int sleep_ms = rng_() % 3 == 0 ? static_cast<int>(rng_() % 300) : 0;
        return R"({"type":"noop","max_retries":50,"payload":{"sleep_ms":)" + std::to_string(sleep_ms) + "}}";
    }

    std::atomic<std::uint16_t>& port_;
    std::mt19937 rng_;
    std::set<std::int64_t> acked_;
};

}  // namespace

BOOST_AUTO_TEST_SUITE(crash)

BOOST_AUTO_TEST_CASE(nothing_acknowledged_is_lost_across_sigkills) {
    TempDir dir;
    const std::string db = dir.file("jobs.db");
    std::mt19937 rng(std::random_device{}());
    std::atomic<std::uint16_t> port{0};
    std::atomic<bool> stop{false};

    auto server = std::make_unique<ServerProcess>(db, std::vector<std::string>{}, dir.file("log"));
    BOOST_TEST_REQUIRE(server->start(), server->log());
    port = server->port();

    std::vector<std::unique_ptr<Submitter>> submitters;
    std::vector<std::thread> threads;
    for (int i = 0; i < client_threads; ++i) {
        submitters.push_back(std::make_unique<Submitter>(port, rng()));
        threads.emplace_back([&, s = submitters.back().get()] { s->run(stop); });
    }

    for (int round = 0; round < kill_rounds; ++round) {
        // A random moment under load: enqueues, claims and completions all in flight.
        std::this_thread::sleep_for(std::chrono::milliseconds(150 + rng() % 600));
        server->kill();
        server = std::make_unique<ServerProcess>(db, std::vector<std::string>{}, dir.file("log"));
        BOOST_TEST_REQUIRE(server->start(), server->log());
        port = server->port();
    }
    std::this_thread::sleep_for(300ms);
    stop = true;
    for (auto& t : threads) t.join();

    std::set<std::int64_t> acked;
    for (const auto& s : submitters) acked.insert(s->acked().begin(), s->acked().end());
    BOOST_TEST_MESSAGE("acknowledged " << acked.size() << " jobs over " << kill_rounds << " SIGKILLs");
    BOOST_TEST_REQUIRE(acked.size() > 100u);

    std::size_t missing = 0, not_done = 0;
    const bool all_done = wait_until(
        [&] {
            const auto states = job_states(db);
            missing = not_done = 0;
            for (const auto id : acked) {
                const auto it = states.find(id);
                if (it == states.end()) ++missing;
                else if (it->second != "done") ++not_done;
            }
            return missing == 0 && not_done == 0;
        },
        60s, 200ms);
    BOOST_TEST(missing == 0u);
    BOOST_TEST(not_done == 0u);
    BOOST_TEST(all_done);
}

BOOST_AUTO_TEST_SUITE_END()
