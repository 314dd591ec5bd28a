// Job lifecycle through the real server: retries, dead letters, shutdown, restart.

#include "http_client.hpp"
#include "job_db.hpp"
#include "server_process.hpp"
#include "temp_dir.hpp"
#include "wait.hpp"

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include <csignal>

using namespace jobq::test;
namespace json = boost::json;
using namespace std::chrono_literals;

namespace {

std::int64_t submit(HttpClient& client, const std::string& body) {
    const auto r = client.post("/jobs", body);
    BOOST_TEST_REQUIRE(r.has_value());
    BOOST_TEST_REQUIRE(r->status == 201, r->body);
    return json::parse(r->body).at("id").as_int64();
}

json::object job(HttpClient& client, std::int64_t id) {
    const auto r = client.get("/jobs/" + std::to_string(id));
    BOOST_TEST_REQUIRE(r.has_value());
    BOOST_TEST_REQUIRE(r->status == 200);
    return json::parse(r->body).as_object();
}

bool reaches(HttpClient& client, std::int64_t id, std::string_view state, std::chrono::milliseconds timeout = 15s) {
    return wait_until([&] { return job(client, id).at("state").as_string() == state; }, timeout);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(lifecycle)

BOOST_AUTO_TEST_CASE(retryable_failure_ends_failed_after_max_retries_plus_one_attempts) {
    TempDir dir;
    ServerProcess server(dir.file("jobs.db"), {"--retry-base-ms", "20", "--retry-max-ms", "100"}, dir.file("log"));
    BOOST_TEST_REQUIRE(server.start(), server.log());
    HttpClient client(server.port());
    const auto id = submit(client, R"({"type":"noop","payload":{"fail":"retryable"},"max_retries":3})");
    BOOST_TEST_REQUIRE(reaches(client, id, "failed"));
    const auto j = job(client, id);
    BOOST_TEST(j.at("attempts").as_int64() == 4);
    BOOST_TEST(j.at("last_error").as_string() == "noop asked to fail (retryable)");
}

BOOST_AUTO_TEST_CASE(permanent_failure_ends_failed_after_one_attempt) {
    TempDir dir;
    ServerProcess server(dir.file("jobs.db"), {}, dir.file("log"));
    BOOST_TEST_REQUIRE(server.start(), server.log());
    HttpClient client(server.port());
    const auto id = submit(client, R"({"type":"noop","payload":{"fail":"permanent"},"max_retries":9})");
    BOOST_TEST_REQUIRE(reaches(client, id, "failed"));
    BOOST_TEST(job(client, id).at("attempts").as_int64() == 1);
}

BOOST_AUTO_TEST_CASE(finished_jobs_are_deleted_after_their_retention_and_failed_ones_kept_longer) {
    TempDir dir;
    ServerProcess server(dir.file("jobs.db"),
                         {"--retention", "300ms", "--failed-retention", "1h", "--retention-sweep-ms", "50"},
                         dir.file("log"));
    BOOST_TEST_REQUIRE(server.start(), server.log());
    HttpClient client(server.port());
    const auto done = submit(client, R"({"type":"noop","payload":{}})");
    const auto failed = submit(client, R"({"type":"noop","payload":{"fail":"permanent"}})");
    const auto later = submit(client, R"({"type":"noop","payload":{},"delay_ms":60000})");
    BOOST_TEST_REQUIRE(reaches(client, done, "done"));
    BOOST_TEST_REQUIRE(reaches(client, failed, "failed"));
    const bool deleted = wait_until([&] { return client.get("/jobs/" + std::to_string(done))->status == 404; }, 10s);
    BOOST_TEST(deleted, "a done job outlived its retention");
    BOOST_TEST(job(client, failed).at("state").as_string() == "failed");
    BOOST_TEST(job(client, later).at("state").as_string() == "queued");
}

BOOST_AUTO_TEST_CASE(sigterm_lets_running_jobs_finish_and_exits_0) {
    TempDir dir;
    ServerProcess server(dir.file("jobs.db"), {"--shutdown-timeout-ms", "20000"}, dir.file("log"));
    BOOST_TEST_REQUIRE(server.start(), server.log());
    HttpClient client(server.port());
    std::vector<std::int64_t> ids;
    for (int i = 0; i < 20; ++i) ids.push_back(submit(client, R"({"type":"noop","payload":{"sleep_ms":700}})"));
    BOOST_TEST_REQUIRE(reaches(client, ids.back(), "processing"));
    server.signal(SIGTERM);
    BOOST_TEST((server.wait_exit(30s) == std::optional<int>(0)), server.log());
    const auto states = job_states(dir.file("jobs.db"));
    for (const auto id : ids) BOOST_TEST(states.at(id) == "done");
}

BOOST_AUTO_TEST_CASE(while_draining_submissions_and_readyz_answer_503) {
    TempDir dir;
    ServerProcess server(dir.file("jobs.db"), {"--shutdown-timeout-ms", "20000"}, dir.file("log"));
    BOOST_TEST_REQUIRE(server.start(), server.log());
    HttpClient probe(server.port());
    HttpClient submitter(server.port());
    const auto running = submit(submitter, R"({"type":"noop","payload":{"sleep_ms":3000}})");
    BOOST_TEST_REQUIRE(reaches(probe, running, "processing"));
    BOOST_TEST(probe.get("/readyz")->status == 200);

    server.signal(SIGTERM);  // the running job keeps the server draining for about 3 s
    BOOST_TEST_REQUIRE(wait_until([&] { return server.log().find("shutting down") != std::string::npos; }, 5s));
    const auto not_ready = probe.get("/readyz");  // on connections opened before: no new ones now
    BOOST_TEST_REQUIRE(not_ready.has_value());
    BOOST_TEST(not_ready->status == 503);
    const auto refused = submitter.post("/jobs", R"({"type":"noop","payload":{}})");
    BOOST_TEST_REQUIRE(refused.has_value());
    BOOST_TEST(refused->status == 503);
    BOOST_TEST(json::parse(refused->body).at("error").at("code").as_string() == "shutting_down");
    BOOST_TEST((server.wait_exit(30s) == std::optional<int>(0)), server.log());
    const auto states = job_states(dir.file("jobs.db"));
    BOOST_TEST(states.size() == 1u);  // the refused job was not stored
    BOOST_TEST(states.at(running) == "done");
}

BOOST_AUTO_TEST_CASE(sigterm_requeues_jobs_still_running_at_the_deadline) {
    TempDir dir;
    ServerProcess server(dir.file("jobs.db"), {"--shutdown-timeout-ms", "300"}, dir.file("log"));
    BOOST_TEST_REQUIRE(server.start(), server.log());
    HttpClient client(server.port());
    const auto id = submit(client, R"({"type":"noop","payload":{"sleep_ms":60000}})");
    BOOST_TEST_REQUIRE(reaches(client, id, "processing"));
    server.signal(SIGTERM);
    BOOST_TEST((server.wait_exit(10s) == std::optional<int>(0)), server.log());
    BOOST_TEST(count_in_state(dir.file("jobs.db"), "processing") == 0u);
    BOOST_TEST(job_states(dir.file("jobs.db")).at(id) == "queued");
}

BOOST_AUTO_TEST_CASE(second_signal_exits_at_once_and_restart_recovers) {
    TempDir dir;
    ServerProcess server(dir.file("jobs.db"), {"--shutdown-timeout-ms", "60000"}, dir.file("log"));
    BOOST_TEST_REQUIRE(server.start(), server.log());
    HttpClient client(server.port());
    const auto id = submit(client, R"({"type":"noop","payload":{"sleep_ms":1500}})");
    BOOST_TEST_REQUIRE(reaches(client, id, "processing"));
    server.signal(SIGTERM);
    BOOST_TEST_REQUIRE(wait_until([&] { return server.log().find("shutting down") != std::string::npos; }, 5s));
    server.signal(SIGTERM);
    const auto code = server.wait_exit(5s);
    BOOST_TEST_REQUIRE(code.has_value());
    BOOST_TEST(*code != 0);

    ServerProcess again(dir.file("jobs.db"), {}, dir.file("log2"));
    BOOST_TEST_REQUIRE(again.start(), again.log());
    HttpClient client2(again.port());
    BOOST_TEST(reaches(client2, id, "done", 10s));
}

BOOST_AUTO_TEST_CASE(job_processing_at_sigkill_is_requeued_at_startup) {
    TempDir dir;
    // The default visibility timeout is 5 minutes: recovery must not wait for it.
    ServerProcess server(dir.file("jobs.db"), {}, dir.file("log"));
    BOOST_TEST_REQUIRE(server.start(), server.log());
    HttpClient client(server.port());
    const auto id = submit(client, R"({"type":"noop","payload":{"sleep_ms":3000}})");
    BOOST_TEST_REQUIRE(reaches(client, id, "processing"));
    server.kill();

    ServerProcess again(dir.file("jobs.db"), {}, dir.file("log2"));
    BOOST_TEST_REQUIRE(again.start(), again.log());
    BOOST_TEST(again.log().find("requeued=1") != std::string::npos, again.log());
    HttpClient client2(again.port());
    BOOST_TEST(reaches(client2, id, "done", 10s));
    BOOST_TEST(job(client2, id).at("attempts").as_int64() == 2);
}

BOOST_AUTO_TEST_CASE(a_database_from_a_newer_jobq_is_refused_with_a_clear_message) {
    TempDir dir;
    store_schema_version(dir.file("jobs.db"), 99);
    ServerProcess server(dir.file("jobs.db"), {}, dir.file("log"));
    BOOST_TEST(!server.start(3s));
    BOOST_TEST((server.exit_code() == std::optional<int>(1)));
    BOOST_TEST(server.log().find("schema version 99 is newer than this jobq understands") != std::string::npos,
               server.log());
    BOOST_TEST(stored_schema_version(dir.file("jobs.db")) == 99);  // left as it was
}

// On PostgreSQL a second server is another node: both serve, each with a name of its own.
BOOST_AUTO_TEST_CASE(a_second_server_is_another_node_on_postgresql) {
    if (!testing_on_postgres()) return;  // SQLite refuses it: the test below
    TempDir dir;
    ServerProcess first(dir.file("jobs.db"), {"--node-name", "a"}, dir.file("log"));
    BOOST_TEST_REQUIRE(first.start(), first.log());
    ServerProcess second(dir.file("jobs.db"), {"--node-name", "b"}, dir.file("log2"));
    BOOST_TEST_REQUIRE(second.start(), second.log());
    HttpClient client(first.port());
    const auto id = submit(client, R"({"type":"noop","payload":{}})");
    HttpClient other(second.port());
    BOOST_TEST(reaches(other, id, "done"));
}

// On SQLite: one server per database file.
BOOST_AUTO_TEST_CASE(second_server_on_the_same_database_exits_with_a_clear_message) {
    if (testing_on_postgres()) return;  // another node there: the test above
    TempDir dir;
    ServerProcess first(dir.file("jobs.db"), {}, dir.file("log"));
    BOOST_TEST_REQUIRE(first.start(), first.log());
    ServerProcess second(dir.file("jobs.db"), {}, dir.file("log2"));
    BOOST_TEST(!second.start(3s));
    BOOST_TEST((second.exit_code() == std::optional<int>(1)));
    BOOST_TEST(second.log().find("another jobq server is using this database") != std::string::npos, second.log());
    HttpClient client(first.port());
    BOOST_TEST(client.get("/healthz")->status == 200);  // the first is unharmed
}

BOOST_AUTO_TEST_CASE(invalid_option_exits_2_naming_it) {
    TempDir dir;
    ServerProcess server(dir.file("jobs.db"), {"--workers", "lots"}, dir.file("log"));
    BOOST_TEST(!server.start(3s));
    BOOST_TEST((server.exit_code() == std::optional<int>(2)));
    BOOST_TEST(server.log().find("--workers") != std::string::npos, server.log());
}

BOOST_AUTO_TEST_SUITE_END()
