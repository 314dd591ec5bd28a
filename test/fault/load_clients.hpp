#pragma once
// The load the crash loops put on jobq (crash_test.cpp, cluster_crash_test.cpp): clients
// that submit single jobs and batches, and external workers that lease and settle, each
// following the server it targets across restarts and recording what it was answered.

#include "http_client.hpp"
#include "job_db.hpp"

#include <boost/json.hpp>

#include <atomic>
#include <chrono>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace jobq::test::load {

namespace json = boost::json;
using namespace std::chrono_literals;

constexpr int batch_size = 500;
// Paced, so the backlog left at the end drains in seconds: about 5,000 jobs a second.
constexpr auto single_pace = 1ms;
constexpr auto batch_pace = 200ms;

// The queue some jobs go to when the load asks for one with a concurrency limit.
inline constexpr const char* limited_queue = "limited";

// Mixed noop jobs: most instant, one in ten sleeping up to 300 ms so kills land mid-run,
// and one in twenty failing retryably until it is dead-lettered. Each carries a mark unique
// to its submission (noop ignores it): a job is found by its id *and* its mark, so a lost
// job is never mistaken for a newer one that took its id. With `limited`, one job in 64
// goes to limited_queue and sleeps 10 to 40 ms (a batch brings a burst of them).
inline std::string random_job(std::mt19937& rng, const std::string& mark, bool limited = false) {
    json::object payload{{"mark", mark}};
    int max_retries = 50;
    if (rng() % 20 == 0) {
        payload["fail"] = "retryable";
        max_retries = 2;
    } else {
        payload["sleep_ms"] = rng() % 10 == 0 ? static_cast<int>(rng() % 300) : 0;
    }
    const char* type = rng() % 4 == 0 ? "ext" : "noop";  // "fail" and "sleep_ms" mean nothing to a worker
    json::object job{{"type", type}, {"max_retries", max_retries}};
    if (limited && rng() % 64 == 0) {
        job["type"] = "noop";
        job["queue"] = limited_queue;
        payload = json::object{{"mark", mark}, {"sleep_ms", 10 + static_cast<int>(rng() % 30)}};
    }
    job["payload"] = std::move(payload);
    return json::serialize(job);
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
// What a Submitter sends: single jobs or batches; with `keyed`, single jobs carry an
// idempotency key (their mark), and one not answered (the server died under it, or its
// database) is sent again, to whichever server is there now, until it is answered: the
// retry finds the job if the first attempt stored it. `limited`: see random_job.
struct SubmitterOptions {
    bool batches = false;
    bool keyed = false;
    bool limited = false;
};

class Submitter {
public:
    Submitter(std::atomic<std::uint16_t>& port, unsigned seed, bool batches, int number)
        : Submitter(port, seed, SubmitterOptions{batches}, number) {}
    Submitter(std::atomic<std::uint16_t>& port, unsigned seed, SubmitterOptions options, int number)
        : port_(port), rng_(seed), batches_(options.batches), options_(options), number_(number) {}

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
    // Keyed retries that found the job their first attempt had stored.
    std::size_t found_by_key() const { return found_by_key_; }

private:
    // "<submitter>:<sequence>": unique across submitters and rounds.
    std::string next_mark() {
        std::string mark = std::to_string(number_);
        mark += ':';
        mark += std::to_string(submitted_++);
        return mark;
    }

    bool submit_one(HttpClient& client) {
        if (!pending_) {
            const auto mark = next_mark();
            auto job = json::parse(random_job(rng_, mark, options_.limited)).as_object();
            if (options_.keyed) job["idempotency_key"] = mark;
            pending_.emplace(mark, json::serialize(job));
        }
        const auto r = client.post("/jobs", pending_->second);
        // Unkeyed, a submission without an answer is given up (it is not acknowledged).
        if (!options_.keyed && (!r || r->status != 201)) pending_.reset();
        if (!r) return false;
        if (r->status == 201 || (options_.keyed && r->status == 200)) {
            const auto id = json::parse(r->body).at("id").as_int64();
            if (r->status == 201)
                acknowledge(id, pending_->first);
            else
                acknowledge_again(id, pending_->first);
            pending_.reset();
        } else if (r->status < 500 && r->status != 429) {
            pending_.reset();  // refused for good: not acknowledged
        }
        return true;
    }

    bool submit_batch(HttpClient& client) {
        std::vector<std::string> marks;
        std::string body = R"({"jobs":[)";
        for (int i = 0; i < batch_size; ++i) {
            if (i) body += ',';
            marks.push_back(next_mark());
            body += random_job(rng_, marks.back(), options_.limited);
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

    // A keyed retry answered with the job an earlier attempt stored (200): acknowledged
    // now, once, and counted.
    void acknowledge_again(std::int64_t id, const std::string& mark) {
        acknowledge(id, mark);
        ++found_by_key_;
    }

    std::atomic<std::uint16_t>& port_;
    std::mt19937 rng_;
    bool batches_;
    SubmitterOptions options_;
    int number_;
    std::optional<std::pair<std::string, std::string>> pending_;  // mark, body: sent, not yet answered
    std::uint64_t submitted_ = 0;
    std::map<std::int64_t, std::string> acked_;
    std::size_t ids_repeated_ = 0;
    std::size_t answers_malformed_ = 0;
    std::size_t found_by_key_ = 0;
};

struct Tally {
    std::size_t lost = 0;
    std::size_t not_final = 0;
    std::size_t ran_more_than_once = 0;  // done after more than one attempt
};

inline Tally tally(const std::string& db, const std::map<std::int64_t, std::string>& acked) {
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

}  // namespace jobq::test::load
