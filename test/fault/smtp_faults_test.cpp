// Email jobs against an SMTP peer that fails on purpose (test/support/smtp_fault_server.py):
// every failure is classified as the job lifecycle needs it, and nothing goes out in
// plain text when STARTTLS is not on offer.

#include "child_process.hpp"
#include "http_client.hpp"
#include "server_process.hpp"
#include "temp_dir.hpp"
#include "wait.hpp"

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include <fstream>
#include <sstream>

using namespace jobq::test;
namespace json = boost::json;
using namespace std::chrono_literals;

namespace {

struct FaultyPeer {
    TempDir dir;
    std::string log = dir.file("commands.log");
    std::unique_ptr<ChildProcess> peer;
    std::unique_ptr<ServerProcess> jobq;
    std::unique_ptr<HttpClient> client;

    // `tls`: the SMTP_TLS jobq uses against this plain-text peer.
    void start(const std::string& mode, const std::string& tls = "none") {
        peer = std::make_unique<ChildProcess>(std::vector<std::string>{
            "/usr/bin/python3", std::string(JOBQ_SOURCE_DIR) + "/test/support/smtp_fault_server.py", "--mode", mode,
            "--log", log});
        const auto ready = peer->read_line(20s);
        BOOST_TEST_REQUIRE((ready && ready->starts_with("READY ")), "the SMTP peer did not start");
        jobq = std::make_unique<ServerProcess>(
            dir.file("jobs.db"),
            std::vector<std::string>{"--smtp-host", "127.0.0.1", "--smtp-port", ready->substr(6), "--smtp-tls", tls,
                                     "--smtp-from", "noreply@jobq.test", "--smtp-timeout-ms", "500",
                                     "--retry-base-ms", "20", "--retry-max-ms", "50"},
            dir.file("jobq.log"));
        BOOST_TEST_REQUIRE(jobq->start(), jobq->log());
        client = std::make_unique<HttpClient>(jobq->port());
    }

    // Submits one email with `max_retries` and waits for it to end failed; the job.
    json::object fails(int max_retries) {
        const auto r = client->post("/jobs", R"({"type":"email","max_retries":)" + std::to_string(max_retries) +
                                                 R"(,"payload":{"to":"user@example.com","subject":"s","body":"b"}})");
        BOOST_TEST_REQUIRE(r.has_value());
        BOOST_TEST_REQUIRE(r->status == 201, r->body);
        const auto id = json::parse(r->body).at("id").as_int64();
        json::object job;
        BOOST_TEST_REQUIRE(wait_until(
            [&] {
                job = json::parse(client->get("/jobs/" + std::to_string(id))->body).as_object();
                return job.at("state").as_string() == "failed";
            },
            20s));
        return job;
    }

    // How many commands the peer received that start with `verb`.
    int received(const std::string& verb) const {
        std::ifstream in(log);
        int n = 0;
        for (std::string line; std::getline(in, line);) n += line.rfind(verb, 0) == 0;
        return n;
    }
};

std::string last_error(const json::object& job) { return std::string(job.at("last_error").as_string()); }

}  // namespace

BOOST_AUTO_TEST_SUITE(smtp_faults)

BOOST_FIXTURE_TEST_CASE(a_451_on_rcpt_is_retried, FaultyPeer) {
    start("rcpt451");
    const auto job = fails(2);
    BOOST_TEST(job.at("attempts").as_int64() == 3);
    BOOST_TEST(last_error(job).find("451") != std::string::npos, last_error(job));
    BOOST_TEST(received("MAIL FROM:<noreply@jobq.test>") == 3);
}

BOOST_FIXTURE_TEST_CASE(a_550_fails_the_job_after_one_attempt, FaultyPeer) {
    start("rcpt550");
    const auto job = fails(5);
    BOOST_TEST(job.at("attempts").as_int64() == 1);
    BOOST_TEST(last_error(job).find("550 5.1.1 no such user") != std::string::npos, last_error(job));
}

BOOST_FIXTURE_TEST_CASE(a_connection_dropped_in_data_is_retried, FaultyPeer) {
    start("drop_in_data");
    const auto job = fails(1);
    BOOST_TEST(job.at("attempts").as_int64() == 2);
    BOOST_TEST(last_error(job).find("lost") != std::string::npos, last_error(job));
    // Each attempt also tried once more on a fresh connection.
    BOOST_TEST(received("DROPPED") == 4);
}

BOOST_FIXTURE_TEST_CASE(a_server_that_never_answers_times_out_and_is_retried, FaultyPeer) {
    start("silent");
    const auto job = fails(1);
    BOOST_TEST(job.at("attempts").as_int64() == 2);
    BOOST_TEST(last_error(job).find("timed out") != std::string::npos, last_error(job));
}

BOOST_FIXTURE_TEST_CASE(without_starttls_on_offer_nothing_is_sent_in_plain_text, FaultyPeer) {
    start("no_starttls", "starttls");
    const auto job = fails(0);
    BOOST_TEST(last_error(job).find("STARTTLS") != std::string::npos, last_error(job));
    BOOST_TEST(received("EHLO") >= 1);
    BOOST_TEST(received("AUTH") == 0);
    BOOST_TEST(received("MAIL") == 0);
    BOOST_TEST(received("RCPT") == 0);
}

BOOST_AUTO_TEST_SUITE_END()
