// A job answered 201 is never lost: clients submit single jobs and large batches while the
// server is SIGKILLed at random moments (some of them in the middle of a graceful
// shutdown) and restarted, round after round; afterwards every acknowledged job must
// reach a final state. The loop reports what it saw: acknowledged, lost, not final, and
// jobs that ran more than once (allowed: delivery is at least once).

#include "http_client.hpp"
#include "job_db.hpp"
#include "server_process.hpp"
#include "temp_dir.hpp"
#include "wait.hpp"

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include <atomic>
#include <csignal>
#include <random>
#include <map>
#include <thread>

using namespace jobq::test;
namespace json = boost::json;
using namespace std::chrono_literals;

namespace {

constexpr int kill_rounds = 20;
constexpr int single_submitters = 3;
constexpr int batch_submitters = 1;
constexpr int batch_size = 500;
// Paced, so the backlog left at the end drains in seconds: about 5,000 jobs a second.
constexpr auto single_pace = 1ms;
constexpr auto batch_pace = 200ms;

const std::vector<std::string> server_args{"--retry-base-ms", "50", "--retry-max-ms", "200",
                                           "--shutdown-timeout-ms", "2000"};

// Mixed noop jobs: most instant, one in ten sleeping up to 300 ms so kills land mid-run,
// and one in twenty failing retryably until it is dead-lettered. Each carries a mark unique
// to its submission (noop ignores it): a job is found by its id *and* its mark, so a lost
// job is never mistaken for a newer one that took its id.
std::string random_job(std::mt19937& rng, const std::string& mark) {
    json::object payload{{"mark", mark}};
    int max_retries = 50;
    if (rng() % 20 == 0) {
        payload["fail"] = "retryable";
        max_retries = 2;
    } else {
        payload["sleep_ms"] = rng() % 10 == 0 ? static_cast<int>(rng() % 300) : 0;
    }
    return json::serialize(json::object{{"type", "noop"}, {"max_retries", max_retries}, {"payload", std::move(payload)}});
}

// Submits until told to stop; records the id and mark of every job answered 201. A request
// the server died under is simply not acknowledged, so it is not counted.
class Submitter {
public:
    Submitter(std::atomic<std::uint16_t>& port, unsigned seed, bool batches, int number)
        : port_(port), rng_(seed), batches_(batches), number_(number) {}

    void run(const std::atomic<bool>& stop) {
        while (!stop) {
            HttpClient client(port_.load(), 2s);
            for (int i = 0; i < 50 && !stop; ++i) {
                if (!(batches_ ? submit_batch(client) : submit_one(client))) break;  // reconnect wherever it is now
                std::this_thread::sleep_for(batches_ ? batch_pace : single_pace);
            }
        }
    }

    // id -> mark of every acknowledged job.
    const std::map<std::int64_t, std::string>& acked() const { return acked_; }
    // Ids answered twice (an id handed out again), and batch answers without one id per job.
    std::size_t ids_repeated() const { return ids_repeated_; }
    std::size_t answers_malformed() const { return answers_malformed_; }

private:
    // "<submitter>:<sequence>": unique across submitters and rounds.
    std::string next_mark() {
        std::string mark = std::to_string(number_);
        mark += ':';
        mark += std::to_string(submitted_++);
        return mark;
    }

    bool submit_one(HttpClient& client) {
        const auto mark = next_mark();
        const auto r = client.post("/jobs", random_job(rng_, mark));
        if (!r) return false;
        if (r->status == 201) acknowledge(json::parse(r->body).at("id").as_int64(), mark);
        return true;
    }

    bool submit_batch(HttpClient& client) {
        std::vector<std::string> marks;
        std::string body = R"({"jobs":[)";
        for (int i = 0; i < batch_size; ++i) {
            if (i) body += ',';
            marks.push_back(next_mark());
            body += random_job(rng_, marks.back());
        }
        body += "]}";
        const auto r = client.post("/jobs/batch", body);
        if (!r) return false;
        if (r->status != 201) return true;
        const auto answer = json::parse(r->body);
        const auto& ids = answer.at("ids").as_array();
        if (ids.size() != marks.size()) {
            ++answers_malformed_;  // counted, not asserted: this is not the test's thread
            return true;
        }
        for (std::size_t i = 0; i < ids.size(); ++i) acknowledge(ids[i].as_int64(), marks[i]);
        return true;
    }

    void acknowledge(std::int64_t id, const std::string& mark) {
        // An id answered twice would be an id handed out again.
        if (!acked_.emplace(id, mark).second) ++ids_repeated_;
    }


    std::atomic<std::uint16_t>& port_;
    std::mt19937 rng_;
    bool batches_;
    int number_;
    std::uint64_t submitted_ = 0;
    std::map<std::int64_t, std::string> acked_;
    std::size_t ids_repeated_ = 0;
    std::size_t answers_malformed_ = 0;
};

struct Tally {
    std::size_t lost = 0;
    std::size_t not_final = 0;
    std::size_t ran_more_than_once = 0;  // done after more than one attempt
};

Tally tally(const std::string& db, const std::map<std::int64_t, std::string>& acked) {
    Tally t;
    const auto rows = job_rows(db);
    for (const auto& [id, mark] : acked) {
        const auto it = rows.find(id);
        // Gone, or its id now holds another submission's job: either way it was lost.
        if (it == rows.end() || it->second.mark != mark) {
            ++t.lost;
            continue;
        }
        const auto& row = it->second;
        if (row.state != "done" && row.state != "failed") ++t.not_final;
        if (row.state == "done" && row.attempts > 1) ++t.ran_more_than_once;
    }
    return t;
}

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
