// External workers through the real server: jobs of the types named by --external-types
// are never run by the built-in workers; a worker leases them with POST /leases (waiting
// up to wait_ms), then acks, fails, extends or releases each lease with its token, or
// settles many at once with POST /leases/settle. A stale token is 409 lease_lost; leases
// expire and are reaped, survive a SIGKILL, and --worker-token grants only these routes.

#include "child_process.hpp"
#include "http_client.hpp"
#include "server_fixture.hpp"
#include "server_process.hpp"
#include "temp_dir.hpp"
#include "wait.hpp"

#include "core/clock.hpp"

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

using namespace jobq::test;
namespace core = jobq::core;
namespace json = boost::json;
using namespace std::chrono_literals;

namespace {

constexpr const char* ext_job = R"({"type":"ext","payload":{"image":"cat.png"}})";

// The per-job lease routes: POST /jobs/{id}/<action>.
constexpr const char* job_lease_actions[] = {"ack", "fail", "extend", "release"};

struct ExternalServer : Server {
    ExternalServer() : Server({"--external-types", "ext,video.*"}) {}
};

HttpReply call(HttpClient& c, const std::string& method, const std::string& target, const std::string& body = {}) {
    auto r = c.request(method, target, body);
    BOOST_TEST_REQUIRE(r.has_value());
    return *r;
}

// `s` as a JSON string, escaped.
std::string quoted(const std::string& s) { return json::serialize(json::string_view(s)); }

// {"token": <token>, <more>}, where `more` is further members as JSON text.
std::string with_token(const std::string& token, const std::string& more = {}) {
    return R"({"token":)" + quoted(token) + (more.empty() ? "" : "," + more) + "}";
}

// A well-formed body for a per-job lease route.
std::string body_for(const std::string& action, const std::string& token) {
    if (action == "fail") return with_token(token, R"("error":"e")");
    if (action == "extend") return with_token(token, R"("lease_ms":5000)");
    return with_token(token);
}

// POST /jobs/{id}/<action>.
HttpReply post_to_job(HttpClient& c, std::int64_t id, const std::string& action, const std::string& body) {
    return call(c, "POST", "/jobs/" + std::to_string(id) + "/" + action, body);
}

// One entry of a /leases/settle list: {"id", "token", <more>}.
std::string entry(std::int64_t id, const std::string& token, const std::string& more = {}) {
    return R"({"id":)" + std::to_string(id) + R"(,"token":)" + quoted(token) + (more.empty() ? "" : "," + more) + "}";
}

std::string settle_body(const std::vector<std::string>& acks, const std::vector<std::string>& fails) {
    const auto list = [](const std::vector<std::string>& entries) {
        std::string out;
        for (std::size_t i = 0; i < entries.size(); ++i) out += (i ? "," : "") + entries[i];
        return out;
    };
    return R"({"ack":[)" + list(acks) + R"(],"fail":[)" + list(fails) + "]}";
}

// The status /leases/settle answered for job `id`.
std::string status_in(const json::value& answer, std::int64_t id) {
    for (const auto& result : answer.at("results").as_array())
        if (result.at("id").as_int64() == id) return std::string(result.at("status").as_string());
    return "(absent)";
}

// POST /leases, which must answer 200: the jobs handed out.
json::array lease(HttpClient& c, const std::string& body) {
    const auto r = call(c, "POST", "/leases", body);
    BOOST_TEST_REQUIRE(r.status == 200, r.body);
    return json::parse(r.body).at("jobs").as_array();
}

json::value lease_one(HttpClient& c, const std::string& body) {
    const auto jobs = lease(c, body);
    BOOST_TEST_REQUIRE(jobs.size() == 1u);
    return jobs[0];
}

std::int64_t id_of(const json::value& job) { return job.at("id").as_int64(); }

std::string token_of(const json::value& leased) { return std::string(leased.at("lease").at("token").as_string()); }

std::string token_for(const json::array& leased, std::int64_t id) {
    for (const auto& j : leased)
        if (id_of(j) == id) return token_of(j);
    BOOST_FAIL("job " << id << " was not leased");
    return {};
}

json::object job_of(HttpClient& c, std::int64_t id) {
    const auto r = call(c, "GET", "/jobs/" + std::to_string(id));
    BOOST_TEST_REQUIRE(r.status == 200, r.body);
    return json::parse(r.body).as_object();
}

// An RFC 3339 time from a reply, in Unix milliseconds.
core::millis time_of(const json::value& v) {
    const auto t = core::parse_rfc3339(std::string(v.as_string()));
    BOOST_TEST_REQUIRE(t.has_value(), json::serialize(v));
    return *t;
}

std::int64_t ms_between(std::chrono::steady_clock::time_point from, std::chrono::steady_clock::time_point to) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(to - from).count();
}

// A POST /leases on a connection and a thread of its own, for a lease that waits (the
// fixture's client is not thread-safe). The client's 20 s timeout bounds the thread.
class LongPoll {
public:
    LongPoll(std::uint16_t port, std::string body) {
        thread_ = std::thread([this, port, body = std::move(body)] {
            HttpClient client(port, 20s);
            const std::string request = "POST /leases HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                        "Content-Type: application/json\r\nContent-Length: " +
                                        std::to_string(body.size()) + "\r\n\r\n" + body;
            if (client.send_only(request)) {
                sent_ = true;
                reply_ = client.read_reply();
            }
            answered_at_ = std::chrono::steady_clock::now();
            done_ = true;
        });
    }
    ~LongPoll() { join(); }
    LongPoll(const LongPoll&) = delete;
    LongPoll& operator=(const LongPoll&) = delete;

    bool sent() const { return sent_; }
    bool done() const { return done_; }
    void join() {
        if (thread_.joinable()) thread_.join();
    }
    // After join():
    const std::optional<HttpReply>& reply() const { return reply_; }
    std::chrono::steady_clock::time_point answered_at() const { return answered_at_; }

private:
    std::atomic<bool> sent_{false};
    std::atomic<bool> done_{false};
    std::optional<HttpReply> reply_;
    std::chrono::steady_clock::time_point answered_at_;
    std::thread thread_;
};

// Nothing the server shows tells when it has taken up a lease that waits. Once its bytes
// are sent, a lease round trip (through the same claim path) on another connection lets
// the server reach it first, as near as can be known from outside. Nothing may be queued
// for the lease's types yet: the probe would take it.
void let_the_server_take_up(const LongPoll& poll, HttpClient& other) {
    BOOST_TEST_REQUIRE(wait_until([&] { return poll.sent() || poll.done(); }, 5s));
    BOOST_TEST_REQUIRE(poll.sent(), "the waiting lease could not be sent");
    BOOST_TEST_REQUIRE(lease(other, "{}").empty());
}

}  // namespace

BOOST_AUTO_TEST_SUITE(leases)

// --- Which jobs are external -------------------------------------------------------------

// A job of a type declared external, by name or by prefix, is stored with any JSON payload
// and handed out unchanged; a name neither built in nor external is 400 unknown_type.
BOOST_FIXTURE_TEST_CASE(external_types_take_any_payload_and_other_names_are_unknown_type, ExternalServer) {
    const std::vector<std::string> payloads = {R"([1,"two",{"three":3}])", R"("just text")", "42",
                                               R"({"deep":{"er":[true,null,-1.5]}})"};
    std::map<std::int64_t, json::value> submitted;
    for (const auto& payload : payloads) {
        const auto id = submit(R"({"type":"ext","payload":)" + payload + "}");
        submitted[id] = json::parse(payload);
        BOOST_TEST(state_of(id) == "queued");
    }
    const auto prefixed = submit(R"({"type":"video.encode","payload":{}})");
    for (const char* type : {"other", "video", "videos.encode", "ex"}) {
        const auto r = post("/jobs", std::string(R"({"type":")") + type + R"(","payload":{}})");
        BOOST_TEST(r.status == 400, type);
        if (r.status == 400) BOOST_TEST(error_code(r) == "unknown_type", type);
    }
    const auto leased = lease(*client, R"({"max":10})");
    BOOST_TEST(leased.size() == payloads.size() + 1);
    for (const auto& j : leased) {
        if (id_of(j) == prefixed) BOOST_TEST(j.at("type").as_string() == "video.encode");
        else if (submitted.count(id_of(j))) BOOST_TEST(j.at("payload") == submitted.at(id_of(j)));
        else BOOST_ERROR("job " << id_of(j) << " was never submitted");
    }
}

struct EveryNameServer : Server {
    EveryNameServer() : Server({"--external-types", "*"}) {}
};

// `*` makes every name that is not built in external; the built-in types stay built in
// (their payloads checked, their jobs run).
BOOST_FIXTURE_TEST_CASE(a_star_makes_every_name_not_built_in_external, EveryNameServer) {
    const auto external = submit(R"({"type":"anything.at-all","payload":{"x":1}})");
    const auto builtin = submit(R"({"type":"noop","payload":{}})");
    const auto bad_noop = post("/jobs", R"({"type":"noop","payload":{"sleep_ms":-1}})");
    BOOST_TEST(bad_noop.status == 400);
    BOOST_TEST(wait_until([&] { return state_of(builtin) == "done"; }, 10s));
    const auto leased = lease(*client, "{}");
    BOOST_TEST_REQUIRE(leased.size() == 1u);
    BOOST_TEST(id_of(leased[0]) == external);
}

// Declaring a built-in type external is a configuration error: exit status 2 at start-up.
BOOST_AUTO_TEST_CASE(declaring_a_built_in_type_external_exits_2) {
    TempDir dir;
    for (const char* name : {"noop", "email", "ext,webhook"}) {
        const std::string list = name;
        ServerProcess server(dir.file(list + ".db"), {"--external-types", list}, dir.file(list + ".log"));
        BOOST_TEST(!server.start(5s), list);
        BOOST_TEST((server.exit_code() == std::optional<int>(2)), list << ": " << server.log());
    }
}

// The built-in workers never take an external job: noop jobs submitted after it run to
// done while the external one stays queued, never attempted.
BOOST_FIXTURE_TEST_CASE(built_in_workers_never_run_an_external_job, ExternalServer) {
    const auto external = submit(ext_job);
    std::int64_t last_noop = 0;
    for (int i = 0; i < 3; ++i) last_noop = submit(R"({"type":"noop","payload":{}})");
    BOOST_TEST_REQUIRE(wait_until([&] { return state_of(last_noop) == "done"; }, 10s));
    const auto j = job(external);
    BOOST_TEST(j.at("state").as_string() == "queued");
    BOOST_TEST(j.at("attempts").as_int64() == 0);
    BOOST_TEST(j.at("started_at").is_null());
}

// --- POST /leases --------------------------------------------------------------------------

// A lease hands out the job as GET /jobs/{id} shows it, plus its lease (token, attempt,
// expiry lease_ms from now), counts the attempt, and shows the worker on the job, which
// is processing; the job is handed out once.
BOOST_FIXTURE_TEST_CASE(a_lease_hands_out_the_job_as_get_shows_it_with_its_lease, ExternalServer) {
    const auto id = submit(R"({"type":"ext","payload":{"image":"cat.png"},"queue":"thumbs","priority":3})");
    const auto before = core::system_now_ms();
    const auto leased = lease(*client, R"({"worker":"thumbnailer-1","lease_ms":60000})");
    const auto after = core::system_now_ms();
    BOOST_TEST_REQUIRE(leased.size() == 1u);
    const auto& j = leased[0];
    BOOST_TEST(id_of(j) == id);
    BOOST_TEST(j.at("state").as_string() == "processing");
    BOOST_TEST(j.at("attempts").as_int64() == 1);
    BOOST_TEST(j.at("payload") == json::parse(R"({"image":"cat.png"})"));
    BOOST_TEST(!token_of(j).empty());
    BOOST_TEST(j.at("lease").at("attempt").as_int64() == 1);
    const auto expires = time_of(j.at("lease").at("expires_at"));
    BOOST_TEST(expires >= before + 60'000 - 1'000);
    BOOST_TEST(expires <= after + 60'000 + 1'000);

    const auto shown = job(id);
    BOOST_TEST(shown.at("state").as_string() == "processing");
    BOOST_TEST(shown.at("worker").as_string() == "thumbnailer-1");
    for (const char* field : {"id", "type", "queue", "priority", "state", "attempts", "attempts_total", "max_retries",
                              "payload", "run_at", "created_at", "started_at"})
        BOOST_TEST(j.at(field) == shown.at(field), field);
    BOOST_TEST(lease(*client, "{}").empty());
}

// A lease takes up to max jobs in claim order: priority (highest first), then run_at,
// then id; jobs not yet due are not handed out. Each lease has its own token.
BOOST_FIXTURE_TEST_CASE(a_lease_hands_out_up_to_max_jobs_in_claim_order, ExternalServer) {
    const auto first = submit(ext_job);
    const auto urgent = submit(R"({"type":"ext","payload":{},"priority":5})");
    const auto second = submit(ext_job);
    submit(R"({"type":"ext","payload":{},"priority":9,"delay_ms":3600000})");  // not due
    const auto two = lease(*client, R"({"max":2})");
    BOOST_TEST_REQUIRE(two.size() == 2u);
    BOOST_TEST(id_of(two[0]) == urgent);
    BOOST_TEST(id_of(two[1]) == first);
    const auto rest = lease(*client, R"({"max":10})");
    BOOST_TEST_REQUIRE(rest.size() == 1u);
    BOOST_TEST(id_of(rest[0]) == second);
    const std::set<std::string> tokens = {token_of(two[0]), token_of(two[1]), token_of(rest[0])};
    BOOST_TEST(tokens.size() == 3u);
}

// A lease takes only the types and queues it names; without types it takes every
// external type.
BOOST_FIXTURE_TEST_CASE(a_lease_takes_only_the_types_and_queues_asked_for, ExternalServer) {
    const auto plain = submit(ext_job);
    const auto video = submit(R"({"type":"video.encode","payload":{},"queue":"media"})");
    const auto by_type = lease(*client, R"({"types":["video.encode"],"max":10})");
    BOOST_TEST_REQUIRE(by_type.size() == 1u);
    BOOST_TEST(id_of(by_type[0]) == video);
    BOOST_TEST_REQUIRE(post_to_job(*client, video, "release", with_token(token_of(by_type[0]))).status == 200);

    const auto by_queue = lease(*client, R"({"queues":["default"],"max":10})");
    BOOST_TEST_REQUIRE(by_queue.size() == 1u);
    BOOST_TEST(id_of(by_queue[0]) == plain);
    BOOST_TEST(lease(*client, R"({"types":["ext"],"max":10})").empty());
    BOOST_TEST(lease(*client, R"({"types":["video.encode"],"queues":["default"],"max":10})").empty());

    const auto by_default = lease(*client, R"({"max":10})");
    BOOST_TEST_REQUIRE(by_default.size() == 1u);
    BOOST_TEST(id_of(by_default[0]) == video);
}

struct VisibilityServer : Server {
    VisibilityServer() : Server({"--external-types", "ext", "--visibility-timeout-ms", "120000"}) {}
};

// Without lease_ms a lease lasts --visibility-timeout-ms.
BOOST_FIXTURE_TEST_CASE(lease_ms_defaults_to_the_visibility_timeout, VisibilityServer) {
    submit(ext_job);
    const auto before = core::system_now_ms();
    const auto leased = lease_one(*client, "{}");
    const auto after = core::system_now_ms();
    const auto expires = time_of(leased.at("lease").at("expires_at"));
    BOOST_TEST(expires >= before + 120'000 - 1'000);
    BOOST_TEST(expires <= after + 120'000 + 1'000);
}

// Every field of a lease request is checked: the bounds are accepted, anything beyond
// them, of the wrong type, unknown or not JSON is 400 and leases nothing.
BOOST_FIXTURE_TEST_CASE(bad_lease_requests_are_400_and_the_bounds_are_accepted, ExternalServer) {
    const std::vector<std::string> at_the_bounds = {
        R"({"max":1})",
        R"({"max":1000})",
        R"({"wait_ms":0})",
        R"({"lease_ms":1000})",
        R"({"lease_ms":86400000})",
        R"({"worker":")" + std::string(128, 'w') + R"("})",
        R"({"queues":["default"],"types":["ext","video.encode"],"max":5,"wait_ms":0,"lease_ms":5000,"worker":"w"})"};
    for (const auto& body : at_the_bounds) {
        const auto r = post("/leases", body);
        BOOST_TEST(r.status == 200, body << ": " << r.body);
    }

    const auto id = submit(ext_job);  // none of the requests below may lease it
    const std::vector<std::pair<std::string, std::string>> bad = {
        {"{", "invalid_json"},
        {"[]", ""},
        {R"({"colour":"red"})", "unknown_field"},
        {R"({"max":0})", ""},
        {R"({"max":1001})", ""},
        {R"({"max":"3"})", ""},
        {R"({"wait_ms":-1})", ""},
        {R"({"wait_ms":60001})", ""},
        {R"({"lease_ms":999})", ""},
        {R"({"lease_ms":86400001})", ""},
        {R"({"worker":")" + std::string(129, 'w') + R"("})", ""},
        {R"({"types":[1]})", ""},
        {R"({"types":"ext"})", ""},
        {R"({"queues":[7]})", ""},
    };
    for (const auto& [body, code] : bad) {
        const auto r = post("/leases", body);
        BOOST_TEST(r.status == 400, body << ": " << r.body);
        if (r.status == 400 && !code.empty()) BOOST_TEST(error_code(r) == code, body);
    }
    const auto j = job(id);
    BOOST_TEST(j.at("state").as_string() == "queued");
    BOOST_TEST(j.at("attempts").as_int64() == 0);
}

// --- Settling one lease --------------------------------------------------------------------

// Ack makes the job done and keeps the result given (any JSON, up to 64 KiB) on the job;
// without one the result is null.
BOOST_FIXTURE_TEST_CASE(ack_marks_the_job_done_with_its_result, ExternalServer) {
    const auto with_result = submit(ext_job);
    const auto without = submit(ext_job);
    const auto big = submit(ext_job);
    const auto leased = lease(*client, R"({"max":3})");
    BOOST_TEST_REQUIRE(leased.size() == 3u);

    const auto result = json::parse(R"({"thumb":"cat-small.png","bytes":1234})");
    const auto r = post_to_job(*client, with_result, "ack",
                               with_token(token_for(leased, with_result), R"("result":)" + json::serialize(result)));
    BOOST_TEST_REQUIRE(r.status == 200, r.body);
    const auto answered = json::parse(r.body);
    BOOST_TEST(answered.at("id").as_int64() == with_result);
    BOOST_TEST(answered.at("state").as_string() == "done");
    BOOST_TEST(answered.at("result") == result);
    const auto shown = job(with_result);
    BOOST_TEST(shown.at("state").as_string() == "done");
    BOOST_TEST(shown.at("result") == result);
    BOOST_TEST(shown.at("attempts").as_int64() == 1);
    BOOST_TEST(!shown.at("finished_at").is_null());

    BOOST_TEST(post_to_job(*client, without, "ack", with_token(token_for(leased, without))).status == 200);
    BOOST_TEST(job(without).at("state").as_string() == "done");
    BOOST_TEST(job(without).at("result").is_null());

    const std::string large(60'000, 'x');
    const auto big_ack = post_to_job(*client, big, "ack", with_token(token_for(leased, big), R"("result":)" + quoted(large)));
    BOOST_TEST(big_ack.status == 200, big_ack.body.substr(0, 300));
    BOOST_TEST((job(big).at("result").as_string() == large));  // not printed: 60 000 characters
}

// The value of one sample line of GET /metrics ("name{labels} value"); 0 when absent.
double metric(Server& server, const std::string& sample) {
    const auto text = server.get("/metrics").body;
    const auto at = text.find("\n" + sample + " ");
    if (at == std::string::npos) return 0;
    return std::stod(text.substr(at + sample.size() + 2));
}

// External runs count in the run metrics like built-in ones; a long poll's wait stays out
// of the request-latency histogram.
BOOST_FIXTURE_TEST_CASE(external_settlements_count_in_the_run_metrics, ExternalServer) {
    const std::string succeeded = R"(jobq_job_runs_total{type="ext",outcome="succeeded"})";
    const std::string retried = R"(jobq_job_runs_total{type="ext",outcome="retried"})";
    const std::string failed = R"(jobq_job_runs_total{type="ext",outcome="failed"})";
    const auto acked = submit(ext_job);
    const auto batch_acked = submit(ext_job);
    const auto refused = submit(ext_job);
    const auto leased = lease(*client, R"({"max":3})");
    BOOST_TEST_REQUIRE(leased.size() == 3u);
    BOOST_TEST(post_to_job(*client, acked, "ack", with_token(token_for(leased, acked))).status == 200);
    BOOST_TEST(post_to_job(*client, refused, "fail",
                           with_token(token_for(leased, refused), R"("error":"bad","retryable":false)"))
                   .status == 200);
    // In a batch: one applied, one refused (a wrong token), which counts nothing.
    const auto settle = call(*client, "POST", "/leases/settle",
                             R"({"ack":[{"id":)" + std::to_string(batch_acked) + R"(,"token":)" +
                                 quoted(token_for(leased, batch_acked)) + R"(},{"id":)" + std::to_string(acked) +
                                 R"(,"token":"0123456789abcdef0123456789abcdef"}]})");
    BOOST_TEST_REQUIRE(settle.status == 200, settle.body);
    BOOST_TEST(metric(*this, succeeded) == 2);
    BOOST_TEST(metric(*this, failed) == 1);
    BOOST_TEST(metric(*this, retried) == 0);
    BOOST_TEST(metric(*this, R"(jobq_job_duration_seconds_count{type="ext"})") == 3);
    const auto totals = json::parse(get("/stats").body).at("totals_since_start");
    BOOST_TEST(totals.at("succeeded").as_int64() == 2);

    const std::string requests = "jobq_http_request_duration_seconds_count";
    const auto before = metric(*this, requests);
    BOOST_TEST(lease(*client, R"({"wait_ms":50})").empty());
    // Only the GET /metrics above counted since: the long poll did not.
    BOOST_TEST(metric(*this, requests) == before + 1);
}

// Fail with a retryable error queues the job again after the backoff (10 to 50 ms here)
// or after retry_in_ms, with the error as last_error; the next lease is the next attempt.
BOOST_FIXTURE_TEST_CASE(fail_requeues_a_retryable_job_after_the_backoff_or_the_delay_given, ExternalServer) {
    const auto id = submit(ext_job);
    const auto first = lease_one(*client, "{}");
    const auto r = post_to_job(*client, id, "fail", with_token(token_of(first), R"("error":"thumbnailer crashed")"));
    BOOST_TEST_REQUIRE(r.status == 200, r.body);
    const auto answered = json::parse(r.body);
    BOOST_TEST(answered.at("state").as_string() == "queued");
    BOOST_TEST(answered.at("last_error").as_string() == "thumbnailer crashed");
    BOOST_TEST(answered.at("attempts").as_int64() == 1);

    json::array again;
    BOOST_TEST_REQUIRE(wait_until([&] { again = lease(*client, "{}"); return !again.empty(); }, 10s));
    BOOST_TEST(id_of(again[0]) == id);
    BOOST_TEST(again[0].at("attempts").as_int64() == 2);
    BOOST_TEST(again[0].at("lease").at("attempt").as_int64() == 2);

    const auto now = post_to_job(*client, id, "fail", with_token(token_of(again[0]), R"("error":"again","retry_in_ms":0)"));
    BOOST_TEST_REQUIRE(now.status == 200, now.body);
    const auto third = lease_one(*client, "{}");  // due at once
    BOOST_TEST(third.at("attempts").as_int64() == 3);

    const auto before = core::system_now_ms();
    const auto later =
        post_to_job(*client, id, "fail", with_token(token_of(third), R"("error":"later","retry_in_ms":3600000)"));
    BOOST_TEST_REQUIRE(later.status == 200, later.body);
    const auto held = json::parse(later.body);
    BOOST_TEST(held.at("state").as_string() == "queued");
    BOOST_TEST(held.at("last_error").as_string() == "later");
    BOOST_TEST(time_of(held.at("run_at")) >= before + 3'600'000 - 1'000);
    BOOST_TEST(lease(*client, "{}").empty());
}

// Fail with retryable false, or with the job out of attempts, dead-letters it: failed,
// with the error, never handed out again.
BOOST_FIXTURE_TEST_CASE(fail_not_retryable_or_out_of_attempts_leaves_the_job_failed, ExternalServer) {
    const auto permanent = submit(ext_job);
    const auto last_try = submit(R"({"type":"ext","payload":{},"max_retries":0})");
    const auto leased = lease(*client, R"({"max":2})");
    BOOST_TEST_REQUIRE(leased.size() == 2u);

    const auto r = post_to_job(*client, permanent, "fail",
                               with_token(token_for(leased, permanent), R"("error":"corrupt image","retryable":false)"));
    BOOST_TEST_REQUIRE(r.status == 200, r.body);
    BOOST_TEST(json::parse(r.body).at("state").as_string() == "failed");
    const auto failed = job(permanent);
    BOOST_TEST(failed.at("state").as_string() == "failed");
    BOOST_TEST(failed.at("last_error").as_string() == "corrupt image");
    BOOST_TEST(failed.at("attempts").as_int64() == 1);

    const auto out = post_to_job(*client, last_try, "fail", with_token(token_for(leased, last_try), R"("error":"timeout")"));
    BOOST_TEST_REQUIRE(out.status == 200, out.body);
    BOOST_TEST(json::parse(out.body).at("state").as_string() == "failed");
    BOOST_TEST(job(last_try).at("last_error").as_string() == "timeout");
    BOOST_TEST(lease(*client, R"({"max":10})").empty());
}

// Extend moves the expiry to lease_ms from now, and the lease then outlives its first
// term: a lease taken with it for as long lapses and is reaped, the extended one holds.
BOOST_FIXTURE_TEST_CASE(extend_moves_the_expiry_and_the_lease_outlives_its_first_term, ExternalServer) {
    const auto kept = submit(ext_job);
    const auto lapsed = submit(ext_job);
    const auto leased = lease(*client, R"({"max":2,"lease_ms":2000})");
    BOOST_TEST_REQUIRE(leased.size() == 2u);
    const auto first_term = time_of(leased[0].at("lease").at("expires_at"));

    const auto before = core::system_now_ms();
    const auto r = post_to_job(*client, kept, "extend", with_token(token_for(leased, kept), R"("lease_ms":60000)"));
    const auto after = core::system_now_ms();
    BOOST_TEST_REQUIRE(r.status == 200, r.body);
    const auto expires = time_of(json::parse(r.body).at("expires_at"));
    BOOST_TEST(expires >= before + 60'000 - 1'000);
    BOOST_TEST(expires <= after + 60'000 + 1'000);
    BOOST_TEST(expires > first_term);

    BOOST_TEST_REQUIRE(wait_until([&] { return state_of(lapsed) == "queued"; }, 15s));
    BOOST_TEST(state_of(kept) == "processing");
    BOOST_TEST(post_to_job(*client, kept, "ack", with_token(token_for(leased, kept))).status == 200);
    BOOST_TEST(state_of(kept) == "done");
}

// Release queues the job again without counting the attempt (attempts back to 0), at once
// or after delay_ms; the old token is then stale, the next lease has a new one.
BOOST_FIXTURE_TEST_CASE(release_requeues_the_job_without_counting_the_attempt, ExternalServer) {
    const auto id = submit(ext_job);
    const auto first = lease_one(*client, "{}");
    BOOST_TEST(first.at("attempts").as_int64() == 1);
    const auto r = post_to_job(*client, id, "release", with_token(token_of(first)));
    BOOST_TEST_REQUIRE(r.status == 200, r.body);
    const auto answered = json::parse(r.body);
    BOOST_TEST(answered.at("state").as_string() == "queued");
    BOOST_TEST(answered.at("attempts").as_int64() == 0);
    BOOST_TEST(job(id).at("attempts").as_int64() == 0);
    BOOST_TEST(post_to_job(*client, id, "ack", with_token(token_of(first))).status == 409);

    const auto second = lease_one(*client, "{}");  // at once: no delay was asked
    BOOST_TEST(id_of(second) == id);
    BOOST_TEST(second.at("attempts").as_int64() == 1);
    BOOST_TEST(token_of(second) != token_of(first));

    const auto before = core::system_now_ms();
    const auto delayed = post_to_job(*client, id, "release", with_token(token_of(second), R"("delay_ms":3600000)"));
    BOOST_TEST_REQUIRE(delayed.status == 200, delayed.body);
    const auto held = json::parse(delayed.body);
    BOOST_TEST(held.at("state").as_string() == "queued");
    BOOST_TEST(held.at("attempts").as_int64() == 0);
    BOOST_TEST(time_of(held.at("run_at")) >= before + 3'600'000 - 1'000);
    BOOST_TEST(lease(*client, "{}").empty());
}

// --- POST /leases/settle -------------------------------------------------------------------

// A settle batch applies each ack and fail whose token is current and answers lease_lost
// for the others, leaving those jobs as they were.
BOOST_FIXTURE_TEST_CASE(settle_applies_each_entry_and_reports_the_lost_leases, ExternalServer) {
    std::vector<std::int64_t> ids;
    for (int i = 0; i < 4; ++i) ids.push_back(submit(ext_job));
    const auto leased = lease(*client, R"({"max":4})");
    BOOST_TEST_REQUIRE(leased.size() == 4u);
    const auto done = ids[0], lost = ids[1], dead = ids[2], retried = ids[3];
    const auto token = [&](std::int64_t id) { return token_for(leased, id); };
    BOOST_TEST_REQUIRE(post_to_job(*client, lost, "ack", with_token(token(lost))).status == 200);  // before the batch

    const auto r = post("/leases/settle",
                        settle_body({entry(done, token(done), R"("result":{"n":1})"), entry(lost, token(lost))},
                                    {entry(dead, token(dead), R"("error":"corrupt","retryable":false)"),
                                     entry(retried, token(retried), R"("error":"busy","retry_in_ms":3600000)")}));
    BOOST_TEST_REQUIRE(r.status == 200, r.body);
    const auto answer = json::parse(r.body);
    BOOST_TEST(answer.at("results").as_array().size() == 4u);
    BOOST_TEST(status_in(answer, done) == "ok");
    BOOST_TEST(status_in(answer, lost) == "lease_lost");
    BOOST_TEST(status_in(answer, dead) == "ok");
    BOOST_TEST(status_in(answer, retried) == "ok");

    BOOST_TEST(state_of(done) == "done");
    BOOST_TEST(job(done).at("result") == json::parse(R"({"n":1})"));
    BOOST_TEST(state_of(lost) == "done");
    BOOST_TEST(job(lost).at("result").is_null());  // its own ack had none; the batch changed nothing
    BOOST_TEST(state_of(dead) == "failed");
    BOOST_TEST(job(dead).at("last_error").as_string() == "corrupt");
    BOOST_TEST(state_of(retried) == "queued");
    BOOST_TEST(job(retried).at("last_error").as_string() == "busy");
    BOOST_TEST(lease(*client, "{}").empty());  // held back an hour
}

// A settle batch naming a job twice, or holding more than 1000 entries, is 400 and
// settles nothing.
BOOST_FIXTURE_TEST_CASE(settle_refuses_a_repeated_id_and_more_than_1000_entries, ExternalServer) {
    const auto id = submit(ext_job);
    const auto t = token_of(lease_one(*client, "{}"));

    BOOST_TEST(post("/leases/settle", settle_body({entry(id, t)}, {entry(id, t, R"("error":"e")")})).status == 400);
    BOOST_TEST(post("/leases/settle", settle_body({entry(id, t), entry(id, t)}, {})).status == 400);
    std::vector<std::string> many = {entry(id, t)};
    for (int i = 1; i <= 1000; ++i) many.push_back(entry(id + i, "no-such-lease"));
    BOOST_TEST(post("/leases/settle", settle_body(many, {})).status == 400);

    const auto j = job(id);
    BOOST_TEST(j.at("state").as_string() == "processing");
    BOOST_TEST(j.at("attempts").as_int64() == 1);
}

// --- Errors --------------------------------------------------------------------------------

// A malformed or incomplete body on any settling route is 400 and changes nothing: the
// lease still holds and its token still acks.
BOOST_FIXTURE_TEST_CASE(bad_settlement_bodies_are_400_and_change_nothing, ExternalServer) {
    const auto id = submit(ext_job);
    const auto t = token_of(lease_one(*client, "{}"));
    const std::string path = "/jobs/" + std::to_string(id);
    const std::string ack = path + "/ack", fail = path + "/fail", extend = path + "/extend", release = path + "/release";
    const std::string settle = "/leases/settle";
    struct Case {
        std::string target, body, code;  // code: the error code, when the contract names it
    };
    const std::vector<Case> cases = {
        {ack, "{", "invalid_json"},
        {ack, "[]", ""},
        {ack, with_token(t, R"("colour":1)"), "unknown_field"},
        {ack, "{}", ""},
        {ack, R"({"token":7})", ""},
        {ack, with_token(t, R"("result":)" + quoted(std::string(70 * 1024, 'x'))), ""},  // over 64 KiB
        {fail, "{", "invalid_json"},
        {fail, with_token(t), ""},
        {fail, with_token(t, R"("error":7)"), ""},
        {fail, with_token(t, R"("error":"e","retryable":"yes")"), ""},
        {fail, with_token(t, R"("error":"e","retry_in_ms":-1)"), ""},
        {fail, with_token(t, R"("error":"e","retry_in_ms":86400001)"), ""},
        {fail, with_token(t, R"("error":"e","colour":1)"), "unknown_field"},
        {extend, "{", "invalid_json"},
        {extend, with_token(t), ""},
        {extend, with_token(t, R"("lease_ms":999)"), ""},
        {extend, with_token(t, R"("lease_ms":86400001)"), ""},
        {extend, with_token(t, R"("lease_ms":5000,"colour":1)"), "unknown_field"},
        {release, "{", "invalid_json"},
        {release, with_token(t, R"("delay_ms":-1)"), ""},
        {release, with_token(t, R"("colour":1)"), "unknown_field"},
        {settle, "{", "invalid_json"},
        {settle, R"({"ack":[],"colour":1})", "unknown_field"},
        {settle, settle_body({entry(id, t, R"("colour":1)")}, {}), "unknown_field"},
        {settle, R"({"ack":{}})", ""},
        {settle, R"({"ack":[{"token":"x"}]})", ""},
        {settle, settle_body({}, {entry(id, t)}), ""},  // a fail without its error
    };
    for (const auto& c : cases) {
        const auto r = post(c.target, c.body);
        BOOST_TEST(r.status == 400, c.target << " " << c.body.substr(0, 120) << ": " << r.body);
        if (r.status == 400 && !c.code.empty()) BOOST_TEST(error_code(r) == c.code, c.target << " " << c.body);
    }
    const auto j = job(id);
    BOOST_TEST(j.at("state").as_string() == "processing");
    BOOST_TEST(j.at("attempts").as_int64() == 1);
    BOOST_TEST(post_to_job(*client, id, "ack", with_token(t)).status == 200);
}

// The per-job lease routes on a job that does not exist are 404.
BOOST_FIXTURE_TEST_CASE(lease_routes_on_an_unknown_job_are_404, ExternalServer) {
    for (const char* name : job_lease_actions) {
        const std::string action = name;
        for (const auto& target : {"/jobs/999999/" + action, "/jobs/abc/" + action}) {
            const auto r = post(target, body_for(action, "some-token"));
            BOOST_TEST(r.status == 404, target << ": " << r.body);
            if (r.status == 404) BOOST_TEST(error_code(r) == "not_found", target);
        }
    }
}

// A token that is not the job's current lease (wrong, from another job, or already
// settled) is 409 lease_lost on every route, and the job is left as it was.
BOOST_FIXTURE_TEST_CASE(a_token_that_is_not_the_current_lease_is_409_lease_lost, ExternalServer) {
    const auto leased_id = submit(ext_job);
    const auto queued_id = submit(ext_job);
    const auto leased = lease_one(*client, "{}");
    BOOST_TEST_REQUIRE(id_of(leased) == leased_id);
    const auto token = token_of(leased);
    const auto refused_everywhere = [&](std::int64_t id, const std::string& t) {
        for (const char* action : job_lease_actions) {
            const auto r = post_to_job(*client, id, action, body_for(action, t));
            BOOST_TEST(r.status == 409, action << " on job " << id << ": " << r.body);
            if (r.status == 409) BOOST_TEST(error_code(r) == "lease_lost", action);
        }
    };

    refused_everywhere(leased_id, "not-the-token");
    auto j = job(leased_id);
    BOOST_TEST(j.at("state").as_string() == "processing");
    BOOST_TEST(j.at("attempts").as_int64() == 1);

    refused_everywhere(queued_id, token);  // another job's token, on a job never leased
    j = job(queued_id);
    BOOST_TEST(j.at("state").as_string() == "queued");
    BOOST_TEST(j.at("attempts").as_int64() == 0);

    BOOST_TEST_REQUIRE(post_to_job(*client, leased_id, "ack", with_token(token)).status == 200);
    refused_everywhere(leased_id, token);  // already settled
    j = job(leased_id);
    BOOST_TEST(j.at("state").as_string() == "done");
    BOOST_TEST(j.at("attempts").as_int64() == 1);
}

// --- Expiry, restarts, shutdown ------------------------------------------------------------

// An expired lease is reaped: the job is queued again with the attempt counted, then
// leased again with a new token; the old token is stale (409), the new one acks.
BOOST_FIXTURE_TEST_CASE(an_expired_lease_is_reaped_and_leased_again_with_a_new_token, ExternalServer) {
    const auto id = submit(ext_job);
    const auto first = lease_one(*client, R"({"lease_ms":1000})");
    const auto old_token = token_of(first);
    BOOST_TEST_REQUIRE(wait_until([&] { return state_of(id) == "queued"; }, 15s));
    BOOST_TEST(job(id).at("attempts").as_int64() == 1);
    const auto stale = post_to_job(*client, id, "ack", with_token(old_token));
    BOOST_TEST(stale.status == 409);
    BOOST_TEST(state_of(id) == "queued");

    json::array again;
    BOOST_TEST_REQUIRE(wait_until([&] { again = lease(*client, "{}"); return !again.empty(); }, 10s));
    BOOST_TEST(id_of(again[0]) == id);
    BOOST_TEST(token_of(again[0]) != old_token);
    BOOST_TEST(again[0].at("lease").at("attempt").as_int64() == 2);
    BOOST_TEST(again[0].at("attempts").as_int64() == 2);

    const auto late = post_to_job(*client, id, "ack", with_token(old_token));
    BOOST_TEST(late.status == 409);
    if (late.status == 409) BOOST_TEST(error_code(late) == "lease_lost");
    BOOST_TEST(post_to_job(*client, id, "ack", with_token(token_of(again[0]))).status == 200);
    BOOST_TEST(state_of(id) == "done");
}

// External leases survive a SIGKILL: after a restart on the same database the jobs are
// still processing under their leases (not requeued) and the old tokens ack them.
BOOST_FIXTURE_TEST_CASE(external_leases_hold_across_a_sigkill_and_restart, ExternalServer) {
    const auto a = submit(ext_job);
    const auto b = submit(ext_job);
    const auto leased = lease(*client, R"({"max":2,"lease_ms":600000,"worker":"w-crash"})");
    BOOST_TEST_REQUIRE(leased.size() == 2u);
    server.kill();

    ServerProcess again(dir.file("jobs.db"), with_fast_retries({"--external-types", "ext,video.*"}), dir.file("log2"));
    BOOST_TEST_REQUIRE(again.start(), again.log());
    HttpClient c(again.port());
    for (const auto id : {a, b}) {
        const auto j = job_of(c, id);
        BOOST_TEST(j.at("state").as_string() == "processing", "job " << id);
        BOOST_TEST(j.at("attempts").as_int64() == 1, "job " << id);
        BOOST_TEST(j.at("worker").as_string() == "w-crash", "job " << id);
    }
    BOOST_TEST(lease(c, R"({"max":10})").empty());
    for (const auto id : {a, b}) {
        const auto r = post_to_job(c, id, "ack", with_token(token_for(leased, id)));
        BOOST_TEST(r.status == 200, "job " << id << ": " << r.body);
        BOOST_TEST(job_of(c, id).at("state").as_string() == "done", "job " << id);
    }
}

// A waiting lease is answered as soon as a job of its type is enqueued (well within its
// wait_ms of 10 s), and holds that job.
BOOST_FIXTURE_TEST_CASE(a_waiting_lease_is_answered_as_soon_as_a_job_is_enqueued, ExternalServer) {
    LongPoll poll(server.port(), R"({"wait_ms":10000,"worker":"poller"})");
    let_the_server_take_up(poll, *client);
    const auto enqueued_at = std::chrono::steady_clock::now();
    const auto id = submit(ext_job);
    BOOST_TEST(wait_until([&] { return poll.done(); }, 5s), "the waiting lease was not answered within 5 s");
    poll.join();
    BOOST_TEST_REQUIRE(poll.reply().has_value());
    BOOST_TEST_REQUIRE(poll.reply()->status == 200, poll.reply()->body);
    BOOST_TEST(ms_between(enqueued_at, poll.answered_at()) < 2000);
    const auto answer = json::parse(poll.reply()->body);
    const auto jobs = answer.at("jobs").as_array();
    BOOST_TEST_REQUIRE(jobs.size() == 1u);
    BOOST_TEST(id_of(jobs[0]) == id);
    const auto j = job(id);
    BOOST_TEST(j.at("state").as_string() == "processing");
    BOOST_TEST(j.at("worker").as_string() == "poller");
}

// A waiting lease with nothing it may take (a job of another type does not count) is
// answered {"jobs": []} when its wait_ms ends, not before and not much after.
BOOST_FIXTURE_TEST_CASE(a_waiting_lease_with_nothing_to_take_answers_empty_when_its_wait_ends, ExternalServer) {
    submit(R"({"type":"video.encode","payload":{}})");
    const auto started = std::chrono::steady_clock::now();
    const auto jobs = lease(*client, R"({"types":["ext"],"wait_ms":300})");
    const auto took = ms_between(started, std::chrono::steady_clock::now());
    BOOST_TEST(jobs.empty());
    BOOST_TEST(took >= 250);
    BOOST_TEST(took < 5000);
}

// At SIGTERM a waiting lease is answered {"jobs": []} at once, and the server exits 0.
BOOST_FIXTURE_TEST_CASE(sigterm_answers_a_waiting_lease_empty_at_once_and_exits_0, ExternalServer) {
    LongPoll poll(server.port(), R"({"wait_ms":10000})");
    let_the_server_take_up(poll, *client);
    const auto signalled_at = std::chrono::steady_clock::now();
    server.signal(SIGTERM);
    BOOST_TEST(wait_until([&] { return poll.done(); }, 5s), "the waiting lease was not answered within 5 s");
    poll.join();
    BOOST_TEST_REQUIRE(poll.reply().has_value(), "no answer; log: " << server.log());
    BOOST_TEST_REQUIRE(poll.reply()->status == 200, poll.reply()->body);
    BOOST_TEST(ms_between(signalled_at, poll.answered_at()) < 2000);
    const auto answer = json::parse(poll.reply()->body);
    BOOST_TEST(answer.at("jobs").as_array().empty());
    BOOST_TEST((server.wait_exit(15s) == std::optional<int>(0)), server.log());
}

// --- Tokens --------------------------------------------------------------------------------

struct TwoTokenServer : Server {
    TwoTokenServer()
        : Server({"--external-types", "ext", "--api-token", "adm1n-token", "--worker-token", "w0rker-token"}) {}
};

// The worker token grants the lease routes and GET /jobs/{id}, and nothing else (403);
// the API token keeps granting everything; no token is 401. Neither token is logged.
BOOST_FIXTURE_TEST_CASE(the_worker_token_grants_only_the_lease_routes_and_reading_a_job, TwoTokenServer) {
    // The fixture's client sends no token; these two send one each (a header cannot be
    // taken off a client once set).
    HttpClient admin(server.port());
    admin.set_header("Authorization", "Bearer adm1n-token");
    HttpClient worker(server.port());
    worker.set_header("Authorization", "Bearer w0rker-token");

    std::vector<std::int64_t> ids;
    for (int i = 0; i < 4; ++i) {
        const auto r = call(admin, "POST", "/jobs", ext_job);
        BOOST_TEST_REQUIRE(r.status == 201, r.body);
        ids.push_back(json::parse(r.body).at("id").as_int64());
    }
    const std::string one = "/jobs/" + std::to_string(ids[0]);

    const auto anonymous = post("/leases", "{}");
    BOOST_TEST(anonymous.status == 401);
    if (anonymous.status == 401) BOOST_TEST(error_code(anonymous) == "unauthorized");
    BOOST_TEST(get(one).status == 401);

    struct Request {
        std::string method, target, body;
    };
    const std::vector<Request> forbidden = {
        {"POST", "/jobs", ext_job},
        {"POST", "/createJob", ext_job},
        {"POST", "/jobs/batch", std::string(R"({"jobs":[)") + ext_job + "]}"},
        {"GET", "/jobs", ""},
        {"GET", "/stats", ""},
        {"GET", "/stats/history", ""},
        {"GET", "/metrics", ""},
        {"POST", one + "/cancel", ""},
        {"POST", one + "/retry", ""},
        {"DELETE", one, ""},
    };
    for (const auto& req : forbidden) {
        const auto r = call(worker, req.method, req.target, req.body);
        BOOST_TEST(r.status == 403, req.method << " " << req.target << ": " << r.body);
    }
    BOOST_TEST(job_of(admin, ids[0]).at("state").as_string() == "queued");  // the refused cancel did nothing

    BOOST_TEST(call(worker, "GET", one).status == 200);
    const auto leased = lease(worker, R"({"max":3,"worker":"w1"})");
    BOOST_TEST_REQUIRE(leased.size() == 3u);
    const auto a = id_of(leased[0]), b = id_of(leased[1]), c = id_of(leased[2]);
    BOOST_TEST(post_to_job(worker, a, "extend", with_token(token_of(leased[0]), R"("lease_ms":60000)")).status == 200);
    BOOST_TEST(post_to_job(worker, a, "ack", with_token(token_of(leased[0]))).status == 200);
    BOOST_TEST(post_to_job(worker, b, "release", with_token(token_of(leased[1]))).status == 200);
    BOOST_TEST(post_to_job(worker, c, "fail", with_token(token_of(leased[2]), R"("error":"e","retryable":false)")).status ==
               200);
    const auto next = lease_one(worker, "{}");
    const auto settled = call(worker, "POST", "/leases/settle", settle_body({entry(id_of(next), token_of(next))}, {}));
    BOOST_TEST_REQUIRE(settled.status == 200, settled.body);
    BOOST_TEST(status_in(json::parse(settled.body), id_of(next)) == "ok");

    const auto last = lease_one(admin, "{}");
    BOOST_TEST(post_to_job(admin, id_of(last), "ack", with_token(token_of(last))).status == 200);
    BOOST_TEST(call(admin, "GET", "/stats").status == 200);

    call(admin, "GET", "/nope");  // its access-log line follows every line above
    BOOST_TEST(wait_until([&] { return server.log().find("route=unmatched status=404") != std::string::npos; }, 5s));
    BOOST_TEST(server.log().find("w0rker-token") == std::string::npos);
    BOOST_TEST(server.log().find("adm1n-token") == std::string::npos);
}

struct WorkerTokenServer : Server {
    WorkerTokenServer() : Server({"--external-types", "ext", "--worker-token", "w0rker-token"}) {}
};

// With only a worker token set, the lease routes need it (401 without it or with a wrong
// one) and every other route stays open.
BOOST_FIXTURE_TEST_CASE(with_only_a_worker_token_the_lease_routes_need_it_and_the_rest_stay_open, WorkerTokenServer) {
    const auto id = submit(ext_job);  // no token: 201
    BOOST_TEST(get("/jobs/" + std::to_string(id)).status == 200);
    BOOST_TEST(get("/stats").status == 200);

    const auto refused = post("/leases", "{}");
    BOOST_TEST(refused.status == 401);
    if (refused.status == 401) BOOST_TEST(error_code(refused) == "unauthorized");
    for (const char* action : job_lease_actions)
        BOOST_TEST(post_to_job(*client, id, action, body_for(action, "some-token")).status == 401, action);
    BOOST_TEST(post("/leases/settle", settle_body({entry(id, "some-token")}, {})).status == 401);
    HttpClient wrong(server.port());
    wrong.set_header("Authorization", "Bearer w0rker-toke");
    BOOST_TEST(call(wrong, "POST", "/leases", "{}").status == 401);
    BOOST_TEST(state_of(id) == "queued");

    HttpClient worker(server.port());
    worker.set_header("Authorization", "Bearer w0rker-token");
    const auto leased = lease_one(worker, "{}");
    BOOST_TEST(id_of(leased) == id);
    BOOST_TEST(post_to_job(worker, id, "ack", with_token(token_of(leased))).status == 200);
    BOOST_TEST(state_of(id) == "done");
    BOOST_TEST(server.log().find("w0rker-token") == std::string::npos);
}

// Lease tokens never reach a log line, /stats or /metrics, whatever was done with them.
BOOST_FIXTURE_TEST_CASE(lease_tokens_never_reach_the_log_stats_or_metrics, ExternalServer) {
    for (int i = 0; i < 4; ++i) submit(ext_job);
    const auto leased = lease(*client, R"({"max":4,"worker":"w"})");
    BOOST_TEST_REQUIRE(leased.size() == 4u);
    std::vector<std::string> tokens;
    for (const auto& j : leased) tokens.push_back(token_of(j));
    // A token short enough to turn up by chance would make the search below meaningless
    // (and be guessable).
    for (const auto& t : tokens) BOOST_TEST_REQUIRE(t.size() >= 16u, "token '" << t << "'");

    const auto a = id_of(leased[0]), b = id_of(leased[1]), c = id_of(leased[2]), d = id_of(leased[3]);
    BOOST_TEST(post_to_job(*client, a, "extend", with_token(tokens[0], R"("lease_ms":60000)")).status == 200);
    BOOST_TEST(post_to_job(*client, a, "ack", with_token(tokens[0], R"("result":{"ok":true})")).status == 200);
    BOOST_TEST(post_to_job(*client, b, "fail", with_token(tokens[1], R"("error":"nope","retryable":false)")).status == 200);
    BOOST_TEST(post_to_job(*client, c, "release", with_token(tokens[2])).status == 200);
    BOOST_TEST(post("/leases/settle", settle_body({entry(d, tokens[3])}, {})).status == 200);
    BOOST_TEST(post_to_job(*client, a, "ack", with_token(tokens[0])).status == 409);  // refused ones too

    get("/nope");  // its access-log line follows every line above
    BOOST_TEST_REQUIRE(
        wait_until([&] { return server.log().find("route=unmatched status=404") != std::string::npos; }, 5s),
        server.log());
    const auto log = server.log();
    const auto stats = get("/stats");
    const auto metrics = get("/metrics");
    BOOST_TEST(stats.status == 200);
    BOOST_TEST(metrics.status == 200);
    for (const auto& t : tokens) {
        BOOST_TEST(log.find(t) == std::string::npos, "the log holds token " << t);
        BOOST_TEST(stats.body.find(t) == std::string::npos, "/stats holds token " << t);
        BOOST_TEST(metrics.body.find(t) == std::string::npos, "/metrics holds token " << t);
    }
}

// --- The README's worker -----------------------------------------------------------------

// docs/examples/worker.py, run as a user runs it, drains 1,000 jobs: it leases them in
// batches, acks each with {"echo": payload} through /leases/settle, and exits 0 by itself
// once a long poll finds nothing. Each job is done after one attempt, with that result.
BOOST_FIXTURE_TEST_CASE(the_readme_python_worker_drains_a_thousand_jobs, ExternalServer) {
    std::map<std::int64_t, json::value> payloads;  // by job id
    for (int batch = 0; batch < 2; ++batch) {
        std::vector<json::value> sent;
        std::string body = R"({"jobs":[)";
        for (int i = 0; i < 500; ++i) {
            const auto n = std::to_string(batch * 500 + i);
            const std::string payload =
                R"({"n":)" + n + R"(,"text":"job )" + n + R"( caf\u00e9","list":[1,2.5,null,true]})";
            body += (i ? "," : "") + std::string(R"({"type":"ext","payload":)") + payload + "}";
            sent.push_back(json::parse(payload));
        }
        body += "]}";
        const auto r = post("/jobs/batch", body);
        BOOST_TEST_REQUIRE(r.status == 201, r.body);
        const auto ids = json::parse(r.body).at("ids").as_array();
        BOOST_TEST_REQUIRE(ids.size() == sent.size());
        for (std::size_t i = 0; i < ids.size(); ++i) payloads[ids[i].as_int64()] = sent[i];
    }
    BOOST_TEST_REQUIRE(payloads.size() == 1000u);

    // coreutils' timeout bounds the run: it exits 124, not 0, when the worker is still
    // running after 60 s (and SIGKILLs it 5 s after its SIGTERM). The worker's summary
    // line goes to this test's stderr.
    const bool exited_0 = run_command({"/usr/bin/timeout", "-k", "5", "60", "/usr/bin/python3",
                                       std::string(JOBQ_SOURCE_DIR) + "/docs/examples/worker.py", "--url",
                                       "http://127.0.0.1:" + std::to_string(server.port()), "--type", "ext",
                                       "--exit-when-idle", "--wait-ms", "500"});
    BOOST_TEST_REQUIRE(exited_0, "the worker did not exit 0 within 60 s; log: " << server.log());

    const auto stats = json::parse(get("/stats").body);
    BOOST_TEST(stats.at("jobs").at("done").as_int64() == 1000);
    for (const char* state : {"queued", "processing", "failed"})
        BOOST_TEST(stats.at("jobs").at(state).as_int64() == 0, state);
    BOOST_TEST(stats.at("types").at("ext").at("done").as_int64() == 1000);

    // Every job, done once, with {"echo": its payload}.
    const std::string done_jobs = "/jobs?state=done&type=ext&limit=1000";
    std::string target = done_jobs;
    std::size_t wrong = 0;
    for (int page = 0; page < 3 && !target.empty(); ++page) {
        const auto r = get(target);
        BOOST_TEST_REQUIRE(r.status == 200, r.body);
        const auto answer = json::parse(r.body);
        for (const auto& j : answer.at("jobs").as_array()) {
            const auto it = payloads.find(id_of(j));
            BOOST_TEST_REQUIRE((it != payloads.end()), "job " << id_of(j) << " is listed twice or was never submitted");
            json::object expected;
            expected["echo"] = it->second;
            if (j.at("result") != json::value(expected) || j.at("attempts").as_int64() != 1) {
                if (wrong++ == 0) BOOST_ERROR("job " << id_of(j) << " ended as " << json::serialize(j));
            }
            payloads.erase(it);
        }
        const auto& next = answer.at("next_cursor");
        target = next.is_null() ? "" : done_jobs + "&cursor=" + std::string(next.as_string());
    }
    BOOST_TEST(wrong == 0u, wrong << " jobs ended without their echo, or after more than one attempt");
    BOOST_TEST(payloads.empty(), payloads.size() << " jobs are not listed as done");
}

// A long poll whose client has gone leases nothing: it would never be answered, and the
// job would wait out the lease and lose an attempt. The job goes to a client still waiting.
BOOST_FIXTURE_TEST_CASE(a_long_poll_whose_client_left_leases_nothing, ExternalServer) {
    const std::string body = R"({"types":["ext"],"wait_ms":10000})";
    const std::string request = "POST /leases HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                                "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
    for (int round = 0; round < 3; ++round) {
        {
            HttpClient gone(server.port(), 5s);
            BOOST_TEST_REQUIRE(gone.send_only(request));
            BOOST_TEST_REQUIRE(lease(*client, "{}").empty());  // the server has taken it up
        }  // the client gives up and closes
        LongPoll live(server.port(), body);
        let_the_server_take_up(live, *client);
        const auto id = submit(R"({"type":"ext","payload":{}})");
        live.join();
        BOOST_TEST_REQUIRE(live.reply().has_value());
        const auto jobs = json::parse(live.reply()->body).at("jobs").as_array();
        BOOST_TEST_REQUIRE(jobs.size() == 1u, live.reply()->body);
        BOOST_TEST(jobs[0].at("id").as_int64() == id);
        BOOST_TEST(job(id).at("attempts").as_int64() == 1);
    }
}

BOOST_AUTO_TEST_SUITE_END()
