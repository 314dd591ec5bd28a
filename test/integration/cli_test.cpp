// The `jobq` command-line client against the real server: the one-shot commands (enqueue,
// get, list, retry, cancel, delete, stats) and their exit statuses (0 done, 1 refused,
// 2 usage, 3 unreachable), and `jobq work` running shell scripts as workers: exit 0 / 65 /
// other give done / failed / retried, a long program keeps its lease, SIGTERM gives the
// job back, a server restart is ridden out.

#include "command.hpp"
#include "server_fixture.hpp"
#include "wait.hpp"

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <sys/stat.h>

using namespace jobq::test;
namespace json = boost::json;
using namespace std::chrono_literals;

namespace {

struct CliServer : Server {
    CliServer() : Server({"--external-types", "sh.*"}) {}

    std::string url() const { return "http://127.0.0.1:" + std::to_string(server.port()); }

    // `jobq ARGS...` against this server.
    CommandResult jobq(std::vector<std::string> args, const std::string& input = {},
                       std::vector<std::string> environment = {}) {
        args.insert(args.begin(), JOBQ_BINARY);
        environment.push_back("JOBQ_URL=" + url());
        return run_capturing(args, environment, input);
    }

    // A shell script in the test's directory, executable.
    std::string script(const std::string& name, const std::string& body) {
        const auto path = dir.file(name);
        std::ofstream(path) << "#!/bin/sh\n" << body << "\n";
        ::chmod(path.c_str(), 0755);
        return path;
    }

    // `jobq work --type TYPE ARGS... -- PROGRAM` in the background.
    std::unique_ptr<BackgroundCommand> work(const std::string& type, const std::string& program,
                                            std::vector<std::string> args = {}) {
        std::vector<std::string> argv = {JOBQ_BINARY, "work", "--type", type};
        argv.insert(argv.end(), args.begin(), args.end());
        argv.insert(argv.end(), {"--", program});
        return std::make_unique<BackgroundCommand>(argv, std::vector<std::string>{"JOBQ_URL=" + url()},
                                                   dir.file("work-" + type + ".log"));
    }

    bool reaches(std::int64_t id, const std::string& state, std::chrono::milliseconds timeout = 15s) {
        return wait_until([&] { return state_of(id) == state; }, timeout, 20ms);
    }
};

std::int64_t id_printed(const CommandResult& r) { return std::stoll(r.out); }

std::vector<json::object> json_lines(const std::string& text) {
    std::vector<json::object> objects;
    std::size_t begin = 0;
    for (auto end = text.find('\n'); end != std::string::npos; begin = end + 1, end = text.find('\n', begin))
        objects.push_back(json::parse(text.substr(begin, end - begin)).as_object());
    return objects;
}

bool file_exists(const std::string& path) { return std::filesystem::exists(path); }

}  // namespace

BOOST_AUTO_TEST_SUITE(cli)

BOOST_FIXTURE_TEST_CASE(enqueue_prints_the_id_and_passes_every_option, CliServer) {
    const auto r = jobq({"enqueue", "sh.mail", R"({"to":"a@example.com"})", "--queue", "mail", "--priority", "7",
                         "--delay", "1h", "--max-retries", "9", "--key", "welcome-1"});
    BOOST_TEST_REQUIRE(r.exit_code == 0, r.err);
    const auto id = id_printed(r);
    const auto stored = job(id);
    BOOST_TEST(stored.at("queue").as_string() == "mail");
    BOOST_TEST(stored.at("priority").as_int64() == 7);
    BOOST_TEST(stored.at("max_retries").as_int64() == 9);
    BOOST_TEST(stored.at("idempotency_key").as_string() == "welcome-1");
    BOOST_TEST(stored.at("payload") == json::parse(R"({"to":"a@example.com"})"));
    // An hour ahead: not runnable now.
    BOOST_TEST(json::parse(get("/stats").body).at("oldest_runnable_age_ms").is_null());

    // The same key again: the same job.
    const auto again = jobq({"enqueue", "sh.mail", R"({"to":"a@example.com"})", "--key", "welcome-1"});
    BOOST_TEST(again.exit_code == 0);
    BOOST_TEST(id_printed(again) == id);

    // The payload from stdin, a run_at, and no payload at all ({}).
    const auto from_stdin = jobq({"enqueue", "sh.mail", "-", "--run-at", "2030-01-31T12:00:00Z"}, R"([1,2,3])");
    BOOST_TEST_REQUIRE(from_stdin.exit_code == 0, from_stdin.err);
    BOOST_TEST(job(id_printed(from_stdin)).at("payload") == json::parse("[1,2,3]"));
    BOOST_TEST(job(id_printed(from_stdin)).at("run_at").as_string() == "2030-01-31T12:00:00.000Z");
    const auto bare = jobq({"enqueue", "sh.mail"});
    BOOST_TEST(job(id_printed(bare)).at("payload") == json::object{});
}

BOOST_FIXTURE_TEST_CASE(exit_status_says_refused_usage_or_unreachable, CliServer) {
    const auto unknown_type = jobq({"enqueue", "no.such.type", "{}"});
    BOOST_TEST(unknown_type.exit_code == 1);
    BOOST_TEST(unknown_type.err.find("unknown_type") != std::string::npos, unknown_type.err);
    BOOST_TEST(unknown_type.out.empty());

    const auto missing = jobq({"get", "987654"});
    BOOST_TEST(missing.exit_code == 1);
    BOOST_TEST(missing.err.find("not_found") != std::string::npos, missing.err);

    for (const auto& usage : std::vector<std::vector<std::string>>{
             {"enqueue", "sh.x", "{not json"},
             {"enqueue"},
             {"enqueue", "sh.x", "{}", "--priority", "high"},
             {"enqueue", "sh.x", "{}", "--delay", "soon"},
             {"enqueue", "sh.x", "{}", "--colour", "red"},
             {"get", "abc"},
             {"get"},
             {"list", "--limit", "0"},
             {"stats", "extra"},
             {"work", "--", "/bin/true"},
             {"work", "--type", "sh.x"},
             {"work", "--type", "sh.x", "--concurrency", "0", "--", "/bin/true"},
             {"work", "--type", "sh.x", "--", "/no/such/program"},
             {"get", "1", "--url", "ftp://127.0.0.1"},
         }) {
        const auto r = jobq(usage);
        BOOST_TEST(r.exit_code == 2, usage.front() << " " << (usage.size() > 1 ? usage[1] : "") << ": " << r.err);
        BOOST_TEST(!r.err.empty());
    }
    const auto unknown_command = run_capturing({JOBQ_BINARY, "frobnicate"});
    BOOST_TEST(unknown_command.exit_code == 2);

    // Nothing listens on that port.
    const std::string nowhere = "http://127.0.0.1:" + std::to_string(free_port());
    for (const auto& args : std::vector<std::vector<std::string>>{
             {"enqueue", "sh.x", "{}", "--url", nowhere},
             {"stats", "--url", nowhere},
             {"work", "--type", "sh.x", "--url", nowhere, "--", "/bin/true"}}) {
        const auto r = jobq(args);
        BOOST_TEST(r.exit_code == 3, args.front() << ": " << r.err);
        BOOST_TEST(r.err.find("could not be reached") != std::string::npos, r.err);
    }
}

BOOST_FIXTURE_TEST_CASE(get_list_retry_cancel_delete_and_stats, CliServer) {
    std::vector<std::int64_t> ids;
    for (int i = 0; i < 5; ++i)
        ids.push_back(id_printed(jobq({"enqueue", i % 2 ? "sh.odd" : "sh.even", "{\"n\":" + std::to_string(i) + "}",
                                       "--queue", i < 3 ? "first" : "second"})));

    const auto got = jobq({"get", std::to_string(ids[1])});
    BOOST_TEST_REQUIRE(got.exit_code == 0, got.err);
    BOOST_TEST(json::parse(got.out).at("type").as_string() == "sh.odd");

    // Piped: JSON lines, in id order; filters and --limit apply; more than a page is paged.
    const auto all = json_lines(jobq({"list"}).out);
    BOOST_TEST_REQUIRE(all.size() == 5u);
    BOOST_TEST(all.front().at("id").as_int64() == ids.front());
    const auto odd = json_lines(jobq({"list", "--type", "sh.odd", "--json"}).out);
    BOOST_TEST(odd.size() == 2u);
    const auto second = json_lines(jobq({"list", "--queue", "second", "--state", "queued"}).out);
    BOOST_TEST(second.size() == 2u);
    BOOST_TEST(json_lines(jobq({"list", "--limit", "3"}).out).size() == 3u);
    BOOST_TEST(jobq({"list", "--state", "sideways"}).exit_code == 1);

    const auto cancelled = jobq({"cancel", std::to_string(ids[0])});
    BOOST_TEST_REQUIRE(cancelled.exit_code == 0, cancelled.err);
    BOOST_TEST(state_of(ids[0]) == "cancelled");
    BOOST_TEST(json::parse(cancelled.out).at("state").as_string() == "cancelled");
    BOOST_TEST(jobq({"cancel", std::to_string(ids[0])}).exit_code == 1);  // already cancelled: 409

    BOOST_TEST(jobq({"retry", std::to_string(ids[0])}).exit_code == 0);
    BOOST_TEST(state_of(ids[0]) == "queued");

    const auto deleted = jobq({"delete", std::to_string(ids[4])});
    BOOST_TEST(deleted.exit_code == 0, deleted.err);
    BOOST_TEST(get("/jobs/" + std::to_string(ids[4])).status == 404u);

    const auto stats = jobq({"stats"});
    BOOST_TEST_REQUIRE(stats.exit_code == 0, stats.err);
    BOOST_TEST(json::parse(stats.out).at("jobs").at("queued").as_int64() == 4);
}

BOOST_AUTO_TEST_CASE(the_api_token_comes_from_the_environment) {
    Server server({"--api-token", "sekret-api", "--worker-token", "sekret-worker", "--external-types", "sh.*"});
    const std::string url = "JOBQ_URL=http://127.0.0.1:" + std::to_string(server.server.port());
    const auto without = run_capturing({JOBQ_BINARY, "stats"}, {url});
    BOOST_TEST(without.exit_code == 1);
    BOOST_TEST(without.err.find("401") != std::string::npos, without.err);
    BOOST_TEST(run_capturing({JOBQ_BINARY, "stats"}, {url, "JOBQ_API_TOKEN=sekret-api"}).exit_code == 0);
    // The worker token opens the lease routes only.
    BOOST_TEST(run_capturing({JOBQ_BINARY, "stats"}, {url, "JOBQ_API_TOKEN=sekret-worker"}).exit_code == 1);
}

BOOST_FIXTURE_TEST_CASE(work_settles_by_exit_status, CliServer) {
    // Echoes what it was given: the payload on stdin and the job's identity.
    const auto echo = script("echo.sh", R"(payload=$(cat)
printf '{"payload":%s,"id":%s,"type":"%s","queue":"%s","attempt":%s}' "$payload" "$JOBQ_JOB_ID" "$JOBQ_JOB_TYPE" "$JOBQ_QUEUE" "$JOBQ_ATTEMPT")");
    const auto permanent = script("permanent.sh", "echo 'the address is malformed' >&2\nexit 65");
    const auto retryable = script("retryable.sh", "echo 'the mail server said 421, later' >&2\nexit 1");
    const auto not_json = script("text.sh", "echo 'plain words, not JSON'");

    const auto echoed = id_printed(jobq({"enqueue", "sh.echo", R"({"n":42})", "--queue", "q1"}));
    const auto failed = id_printed(jobq({"enqueue", "sh.permanent", "{}"}));
    const auto retried = id_printed(jobq({"enqueue", "sh.retryable", "{}", "--max-retries", "5"}));
    const auto texted = id_printed(jobq({"enqueue", "sh.text", "{}"}));

    auto echo_worker = work("sh.echo", echo);
    auto permanent_worker = work("sh.permanent", permanent);
    auto text_worker = work("sh.text", not_json);
    BOOST_TEST_REQUIRE(reaches(echoed, "done"), echo_worker->log());
    const auto done_job = job(echoed);
    BOOST_TEST(done_job.at("attempts").as_int64() == 1);
    BOOST_TEST(done_job.at("result") == json::parse(R"({"payload":{"n":42},"id":)" + std::to_string(echoed) +
                                                    R"(,"type":"sh.echo","queue":"q1","attempt":1})"));

    BOOST_TEST_REQUIRE(reaches(failed, "failed"), permanent_worker->log());
    BOOST_TEST(job(failed).at("attempts").as_int64() == 1);
    BOOST_TEST(job(failed).at("last_error").as_string() == "the address is malformed");

    BOOST_TEST_REQUIRE(reaches(texted, "done"), text_worker->log());
    BOOST_TEST(job(texted).at("result").is_null());

    {
        // One run, then stopped: the job is queued again for a retry, its error kept.
        auto retry_worker = work("sh.retryable", retryable);
        BOOST_TEST_REQUIRE(wait_until([&] { return job(retried).at("last_error").is_string(); }, 15s),
                           retry_worker->log());
        retry_worker->signal(SIGTERM);
        BOOST_TEST(retry_worker->wait_exit(10s).value_or(-1) == 0);
    }
    const auto retry_job = job(retried);
    BOOST_TEST(retry_job.at("last_error").as_string() == "the mail server said 421, later");
    BOOST_TEST(retry_job.at("state").as_string() != "failed");  // retryable, with attempts left

    for (auto* worker : {echo_worker.get(), permanent_worker.get(), text_worker.get()}) {
        worker->signal(SIGINT);
        BOOST_TEST(worker->wait_exit(10s).value_or(-1) == 0, worker->log());
    }
}

BOOST_FIXTURE_TEST_CASE(a_program_longer_than_its_lease_keeps_it, CliServer) {
    const auto slow = script("slow.sh", "sleep 5\necho '\"slept\"'");
    const auto id = id_printed(jobq({"enqueue", "sh.slow", "{}"}));
    auto worker = work("sh.slow", slow, {"--lease-ms", "2000"});
    BOOST_TEST_REQUIRE(reaches(id, "done", 20s), worker->log());
    const auto finished = job(id);
    // Extended every third of the lease: never reaped, one attempt.
    BOOST_TEST(finished.at("attempts").as_int64() == 1);
    BOOST_TEST(finished.at("attempts_total").as_int64() == 1);
    BOOST_TEST(finished.at("result").as_string() == "slept");
    worker->signal(SIGTERM);
    BOOST_TEST(worker->wait_exit(10s).value_or(-1) == 0);
}

BOOST_FIXTURE_TEST_CASE(sigterm_mid_job_gives_the_job_back_without_using_an_attempt, CliServer) {
    const auto started = dir.file("started");
    const auto stuck = script("stuck.sh", "touch '" + started + "'\nexec sleep 60");
    const auto id = id_printed(jobq({"enqueue", "sh.stuck", "{}"}));
    auto worker = work("sh.stuck", stuck, {"--shutdown-timeout-ms", "300"});
    BOOST_TEST_REQUIRE(wait_until([&] { return file_exists(started); }, 15s), worker->log());
    BOOST_TEST(state_of(id) == "processing");
    worker->signal(SIGTERM);
    BOOST_TEST(worker->wait_exit(10s).value_or(-1) == 0, worker->log());
    const auto released = job(id);
    BOOST_TEST(released.at("state").as_string() == "queued");
    BOOST_TEST(released.at("attempts").as_int64() == 0);
    BOOST_TEST(released.at("worker").is_null());
}

BOOST_FIXTURE_TEST_CASE(programs_that_finish_within_the_shutdown_timeout_are_settled, CliServer) {
    const auto started = dir.file("started");
    const auto brief = script("brief.sh", "touch '" + started + "'\nsleep 1\necho 7");
    const auto id = id_printed(jobq({"enqueue", "sh.brief", "{}"}));
    auto worker = work("sh.brief", brief, {"--shutdown-timeout-ms", "20000"});
    BOOST_TEST_REQUIRE(wait_until([&] { return file_exists(started); }, 15s), worker->log());
    worker->signal(SIGTERM);
    BOOST_TEST(worker->wait_exit(15s).value_or(-1) == 0, worker->log());
    BOOST_TEST(state_of(id) == "done");
    BOOST_TEST(job(id).at("result").as_int64() == 7);
}

BOOST_FIXTURE_TEST_CASE(concurrency_runs_programs_side_by_side, CliServer) {
    // Each program waits until all four have started: only four at once can finish.
    const auto gate = dir.file("gate");
    std::filesystem::create_directory(gate);
    const auto together = script("together.sh", "touch '" + gate + "/'$JOBQ_JOB_ID\n"
                                                "for i in $(seq 1 200); do\n"
                                                "  [ $(ls '" + gate + "' | wc -l) -ge 4 ] && exit 0\n"
                                                "  sleep 0.05\n"
                                                "done\nexit 1");
    std::vector<std::int64_t> ids;
    for (int i = 0; i < 4; ++i) ids.push_back(id_printed(jobq({"enqueue", "sh.together", "{}", "--max-retries", "0"})));
    auto worker = work("sh.together", together, {"--concurrency", "4"});
    for (const auto id : ids) BOOST_TEST(reaches(id, "done"), worker->log());
    worker->signal(SIGTERM);
    BOOST_TEST(worker->wait_exit(10s).value_or(-1) == 0);
}

BOOST_FIXTURE_TEST_CASE(work_rides_out_a_server_restart_even_during_its_first_wait, CliServer) {
    const auto echo = script("ok.sh", "cat > /dev/null\necho true");
    auto worker = work("sh.ok", echo);
    // Restarted while the worker's first long poll waits on an idle queue (it says when it
    // has reached the server).
    BOOST_TEST_REQUIRE(wait_until([&] { return worker->log().find("working for") != std::string::npos; }, 15s),
                       worker->log());
    server.kill();
    BOOST_TEST_REQUIRE(server.restart_on_same_port(), server.log());
    client = std::make_unique<HttpClient>(server.port());
    const auto after = id_printed(jobq({"enqueue", "sh.ok", "{}"}));
    BOOST_TEST(reaches(after, "done"), worker->log());

    server.kill();  // and again, after a job
    BOOST_TEST_REQUIRE(server.restart_on_same_port(), server.log());
    client = std::make_unique<HttpClient>(server.port());
    const auto later = id_printed(jobq({"enqueue", "sh.ok", "{}"}));
    BOOST_TEST(reaches(later, "done"), worker->log());
    worker->signal(SIGTERM);
    BOOST_TEST(worker->wait_exit(10s).value_or(-1) == 0, worker->log());
}

BOOST_FIXTURE_TEST_CASE(a_lost_lease_stops_the_program_and_the_job_runs_again, CliServer) {
    const auto pid_file = dir.file("first.pid");
    // The first attempt hangs; the second answers at once.
    const auto hangs_once = script("once.sh", "if [ \"$JOBQ_ATTEMPT\" = 1 ]; then echo $$ > '" + pid_file +
                                                  ".tmp'; mv '" + pid_file + ".tmp' '" + pid_file +
                                                  "'; exec sleep 60; fi\necho '\"second\"'");
    const auto id = id_printed(jobq({"enqueue", "sh.once", "{}"}));
    auto worker = work("sh.once", hangs_once, {"--lease-ms", "3000"});
    BOOST_TEST_REQUIRE(wait_until([&] { return file_exists(pid_file); }, 15s), worker->log());
    // The worker frozen past its lease: the server reaps it and queues the job again.
    worker->signal(SIGSTOP);
    BOOST_TEST_REQUIRE(reaches(id, "queued"), server.log());
    worker->signal(SIGCONT);
    // Its next extension is refused: the hanging program is killed, the job runs again.
    BOOST_TEST_REQUIRE(reaches(id, "done"), worker->log());
    BOOST_TEST(job(id).at("result").as_string() == "second");
    BOOST_TEST(job(id).at("attempts_total").as_int64() == 2);
    const pid_t first = std::stoi(std::string(std::istreambuf_iterator<char>(*std::make_unique<std::ifstream>(pid_file)), {}));
    BOOST_TEST(wait_until([&] { return ::kill(first, 0) != 0; }, 10s));
    BOOST_TEST(worker->log().find("lease was lost") != std::string::npos, worker->log());
    worker->signal(SIGTERM);
    BOOST_TEST(worker->wait_exit(10s).value_or(-1) == 0, worker->log());
}

BOOST_FIXTURE_TEST_CASE(a_second_signal_stops_the_programs_at_once, CliServer) {
    const auto started = dir.file("started");
    const auto stuck = script("stuck.sh", "touch '" + started + "'\nexec sleep 60");
    const auto id = id_printed(jobq({"enqueue", "sh.stuck", "{}"}));
    auto worker = work("sh.stuck", stuck, {"--shutdown-timeout-ms", "60000"});
    BOOST_TEST_REQUIRE(wait_until([&] { return file_exists(started); }, 15s), worker->log());
    worker->signal(SIGTERM);
    BOOST_TEST(!worker->wait_exit(300ms).has_value());  // waiting for the program
    worker->signal(SIGINT);
    BOOST_TEST(worker->wait_exit(10s).value_or(-1) == 0, worker->log());
    BOOST_TEST(state_of(id) == "queued");
    BOOST_TEST(job(id).at("attempts").as_int64() == 0);
}

BOOST_FIXTURE_TEST_CASE(a_program_that_cannot_start_gives_the_job_back, CliServer) {
    const auto program = script("vanishing.sh", "echo '\"ran\"'");
    auto worker = work("sh.vanishing", program);
    BOOST_TEST_REQUIRE(wait_until([&] { return worker->log().find("working for") != std::string::npos; }, 15s),
                       worker->log());
    // Gone (a deploy replacing it, say) when the job comes.
    std::filesystem::rename(program, program + ".away");
    const auto id = id_printed(jobq({"enqueue", "sh.vanishing", "{}"}));
    BOOST_TEST_REQUIRE(wait_until([&] { return worker->log().find("given back") != std::string::npos; }, 15s),
                       worker->log());
    std::filesystem::rename(program + ".away", program);
    BOOST_TEST_REQUIRE(reaches(id, "done"), worker->log());
    BOOST_TEST(job(id).at("result").as_string() == "ran");
    // Every lease that could not start the program was given back: one attempt counted.
    BOOST_TEST(job(id).at("attempts_total").as_int64() == 1);
    worker->signal(SIGTERM);
    BOOST_TEST(worker->wait_exit(10s).value_or(-1) == 0, worker->log());
}

BOOST_FIXTURE_TEST_CASE(a_result_over_64_kib_once_stored_is_left_out_and_the_job_done, CliServer) {
    // 15,001 halves printed as "0.5" make about 60,000 bytes, under 64 KiB; stored as
    // "5E-1" they would make about 75,000: the result is left out rather than refused.
    const auto halves = script("halves.sh", "printf '['; for i in $(seq 1 15000); do printf '0.5,'; done; echo '0.5]'");
    const auto id = id_printed(jobq({"enqueue", "sh.halves", "{}"}));
    auto worker = work("sh.halves", halves);
    BOOST_TEST_REQUIRE(reaches(id, "done"), worker->log());
    BOOST_TEST(job(id).at("result").is_null());
    BOOST_TEST(job(id).at("attempts_total").as_int64() == 1);
    worker->signal(SIGTERM);
    BOOST_TEST(worker->wait_exit(10s).value_or(-1) == 0, worker->log());
}

BOOST_FIXTURE_TEST_CASE(a_type_the_server_does_not_lease_is_refused_at_once, CliServer) {
    // "noop" is built in, not external: the lease request is a 400, the worker exits 1.
    auto worker = work("noop", "/bin/true");
    BOOST_TEST(worker->wait_exit(10s).value_or(-1) == 1, worker->log());
    BOOST_TEST(worker->log().find("refused") != std::string::npos, worker->log());
}

BOOST_AUTO_TEST_SUITE_END()
