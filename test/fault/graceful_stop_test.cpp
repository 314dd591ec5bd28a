// SIGTERM under load: clients keep submitting on their connections while the server
// drains. Every request on an open connection is answered, the first one after the signal
// with Connection: close (a client should go elsewhere); a new connection is refused;
// jobs running at the deadline are requeued; the exit code is 0, no row is left
// processing, and a restart runs every acknowledged job.

#include "http_client.hpp"
#include "job_db.hpp"
#include "server_process.hpp"
#include "temp_dir.hpp"
#include "wait.hpp"

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include <atomic>
#include <csignal>
#include <set>
#include <thread>

using namespace jobq::test;
namespace json = boost::json;
using namespace std::chrono_literals;

namespace {

struct Counts {
    std::set<std::int64_t> acked;
    std::size_t refused = 0;     // 503 while draining
    std::size_t unanswered = 0;  // no reply on a connection the server had not closed
    std::size_t other = 0;
    bool told_to_close = false;  // Connection: close
};

constexpr auto long_job = R"({"type":"noop","payload":{"sleep_ms":5000}})";

// Submits on one kept-alive connection until `stop` or until the server says it closes
// the connection. One job in fifty runs for 5 s. `acked_so_far` lets the test see the
// load build up while the client owns `counts`.
void submit_until(std::uint16_t port, const std::atomic<bool>& stop, Counts& counts,
                  std::atomic<std::size_t>& acked_so_far) {
    HttpClient client(port, 5s);
    for (int i = 0; !stop && !counts.told_to_close; ++i) {
        const auto r = client.post("/jobs", i % 50 == 0 ? long_job : R"({"type":"noop","payload":{}})");
        if (!r) {
            ++counts.unanswered;
            return;
        }
        if (r->status == 201) {
            counts.acked.insert(json::parse(r->body).at("id").as_int64());
            ++acked_so_far;
        } else if (r->status == 503) ++counts.refused;
        else ++counts.other;
        const auto connection = r->headers.find("connection");
        counts.told_to_close = connection != r->headers.end() && connection->second == "close";
    }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(graceful_stop)

BOOST_AUTO_TEST_CASE(sigterm_under_load_answers_every_request_and_loses_nothing) {
    TempDir dir;
    const std::string db = dir.file("jobs.db");
    const std::vector<std::string> args{"--shutdown-timeout-ms", "1500", "--workers", "16"};
    auto server = std::make_unique<ServerProcess>(db, args, dir.file("log"));
    BOOST_TEST_REQUIRE(server->start(), server->log());

    std::atomic<bool> stop{false};
    std::atomic<std::size_t> acked_so_far{0};
    std::vector<Counts> counts(4);
    std::vector<std::thread> clients;
    for (auto& c : counts)
        clients.emplace_back([&, port = server->port()] { submit_until(port, stop, c, acked_so_far); });

    // The load builds up, however fast this machine's disk is; then a fresh long job is
    // seen running, so at least one job outlives the 1.5 s deadline and is requeued.
    BOOST_TEST_REQUIRE(wait_until([&] { return acked_so_far >= 100; }, 60s));
    HttpClient observer(server->port());
    const auto submitted = observer.post("/jobs", long_job);
    BOOST_TEST_REQUIRE((submitted && submitted->status == 201));
    const auto long_id = json::parse(submitted->body).at("id").as_int64();
    const bool long_job_running = wait_until(
        [&] {
            const auto r = observer.get("/jobs/" + std::to_string(long_id));
            return r && json::parse(r->body).at("state").as_string() == "processing";
        },
        30s);
    BOOST_TEST_REQUIRE(long_job_running);
    server->signal(SIGTERM);
    const bool draining = wait_until([&] { return server->log().find("shutting down") != std::string::npos; }, 5s);
    BOOST_TEST_REQUIRE(draining);
    // Long jobs keep it draining for the 1.5 s deadline: meanwhile no new connection is taken.
    std::this_thread::sleep_for(200ms);
    BOOST_TEST(!HttpClient(server->port(), 1s).get("/healthz").has_value(), "a new connection was accepted");
    stop = true;
    for (auto& t : clients) t.join();
    BOOST_TEST((server->wait_exit(15s) == std::optional<int>(0)), server->log());

    Counts total;
    for (const auto& c : counts) {
        BOOST_TEST(c.told_to_close);  // each client was open at the signal, and was told
        total.acked.insert(c.acked.begin(), c.acked.end());
        total.refused += c.refused;
        total.unanswered += c.unanswered;
        total.other += c.other;
    }
    BOOST_TEST_MESSAGE("graceful stop: " << total.acked.size() << " acknowledged, " << total.refused
                                         << " answered 503 while draining, " << total.unanswered
                                         << " unanswered");
    total.acked.insert(long_id);
    BOOST_TEST(total.acked.size() > 100u);
    BOOST_TEST(total.unanswered == 0u);
    BOOST_TEST(total.other == 0u);
    BOOST_TEST(count_in_state(db, "processing") == 0u);
    BOOST_TEST(job_states(db).at(long_id) == "queued");  // requeued at the deadline

    // A restart runs every acknowledged job; nothing refused was stored.
    server = std::make_unique<ServerProcess>(db, args, dir.file("log"));
    BOOST_TEST_REQUIRE(server->start(), server->log());
    const bool all_done = wait_until(
        [&] {
            const auto states = job_states(db);
            for (const auto id : total.acked)
                if (!states.contains(id) || states.at(id) != "done") return false;
            return states.size() == total.acked.size();
        },
        60s, 100ms);
    BOOST_TEST(all_done);
}

BOOST_AUTO_TEST_SUITE_END()
