// A job answered 201 is never lost: clients submit single jobs and large batches while the
// server is SIGKILLed at random moments (some of them in the middle of a graceful
// shutdown) and restarted, round after round; afterwards every acknowledged job must
// reach a final state. One job in four is of an external type, run by worker threads that
// lease and settle in batches over HTTP all along: every ack the server accepted must be
// for the attempt that ended the job. The loop reports what it saw: acknowledged, lost, not final, and
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
#include <set>
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

constexpr int external_workers = 2;
const std::vector<std::string> server_args{"--retry-base-ms", "50", "--retry-max-ms", "200",
                                           "--shutdown-timeout-ms", "2000", "--external-types", "ext"};

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
    const char* type = rng() % 4 == 0 ? "ext" : "noop";  // "fail" and "sleep_ms" mean nothing to a worker
    return json::serialize(json::object{{"type", type}, {"max_retries", max_retries}, {"payload", std::move(payload)}});
}

// An external worker: leases jobs of type "ext" in batches (long polling), fails one in
// ten retryably and acks the rest, all in one POST /leases/settle per batch, until told to
// stop; wherever the server is now. Records the attempt of every ack the server answered
// "ok": the fencing under test says no other attempt of that job can have been settled.
class ExternalWorker {
public:
    ExternalWorker(std::atomic<std::uint16_t>& port, unsigned seed) : port_(port), rng_(seed) {}

    void run(const std::atomic<bool>& stop) {
        while (!stop) {
            HttpClient client(port_.load(), 2s);
            while (!stop && round(client)) {
            }
        }
    }

    // id -> the attempt of each ack answered ok (more than one for an id is a fencing failure).
    const std::multimap<std::int64_t, std::int64_t>& acked() const { return acked_; }

private:
    // False when the connection failed: reconnect to wherever the server is now.
    bool round(HttpClient& client) {
        const auto leased = client.post("/leases", R"({"types":["ext"],"max":50,"wait_ms":200,"lease_ms":2000})");
        if (!leased) return false;
        if (leased->status != 200) return true;
        const auto lease_answer = json::parse(leased->body);
        const auto& jobs = lease_answer.at("jobs").as_array();
        if (jobs.empty()) return true;
        json::array acks, fails;
        std::map<std::int64_t, std::int64_t> attempts;
        for (const auto& job : jobs) {
            const auto id = job.at("id").as_int64();
            const auto& lease = job.at("lease");
            attempts[id] = lease.at("attempt").as_int64();
            json::object entry{{"id", id}, {"token", lease.at("token")}};
            if (rng_() % 10 == 0) {
                entry["error"] = "flaky";
                fails.push_back(std::move(entry));
            } else {
                acks.push_back(std::move(entry));
            }
        }
        const auto settled =
            client.post("/leases/settle", json::serialize(json::object{{"ack", acks}, {"fail", fails}}));
        if (!settled) return false;  // the server died under it: those leases expire and run again
        if (settled->status != 200) return true;
        std::set<std::int64_t> acked_ids;
        for (const auto& a : acks) acked_ids.insert(a.at("id").as_int64());
        const auto answer = json::parse(settled->body);  // kept: the loop below reads into it
        for (const auto& result : answer.at("results").as_array()) {
            const auto id = result.at("id").as_int64();
            if (result.at("status").as_string() == "ok" && acked_ids.count(id)) acked_.emplace(id, attempts[id]);
        }
        return true;
    }

    std::atomic<std::uint16_t>& port_;
    std::mt19937 rng_;
    std::multimap<std::int64_t, std::int64_t> acked_;
};

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
