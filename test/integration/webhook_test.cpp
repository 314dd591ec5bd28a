// Webhook jobs end to end: build/jobq delivers to a real HTTP server (Beast) on loopback,
// over plain TCP and over TLS with a certificate made for the test; the receiver records
// what arrived and answers as each test scripts it.

#include "certificate.hpp"
#include "child_process.hpp"
#include "server_fixture.hpp"
#include "temp_dir.hpp"
#include "wait.hpp"
#include "webhook_receiver.hpp"

#include "handlers/webhook_request.hpp"

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

using namespace jobq::test;
namespace json = boost::json;
using namespace std::chrono_literals;

namespace {

struct Certificate {
    TempDir dir;
    TlsFiles files{dir.file("cert.pem"), dir.file("key.pem")};
    Certificate() { BOOST_TEST_REQUIRE(make_certificate(files.cert, files.key)); }
};

std::string webhook_job(const std::string& url, int max_retries = 3, const std::string& extra = "") {
    std::string job = R"({"type":"webhook","max_retries":)";
    job += std::to_string(max_retries);
    job += R"(,"payload":{"url":")";
    job += url;
    job += R"(","body":{"order":42,"note":"Grüße"})";
    job += extra;
    job += "}}";
    return job;
}

std::string local_url(const WebhookReceiver& receiver, const std::string& scheme = "http",
                      const std::string& path = "/hook") {
    std::string url = scheme;
    url += "://127.0.0.1:";
    url += std::to_string(receiver.port());
    url += path;
    return url;
}

// Waits until the job is done or failed; its final JSON.
json::object final_job(Server& s, std::int64_t id, std::chrono::milliseconds timeout = 15s) {
    json::object job;
    const bool ended = wait_until(
        [&] {
            job = s.job(id);
            const auto& state = job.at("state").as_string();
            return state == "done" || state == "failed";
        },
        timeout);
    BOOST_TEST_REQUIRE(ended, "job " << id << " did not end: " << json::serialize(job));
    return job;
}

std::string last_error(const json::object& job) {
    const auto& e = job.at("last_error");
    return e.is_string() ? std::string(e.as_string()) : std::string();
}

ReceiverScript first_then_ok(ReceiverReply first) {
    return [first](const ReceivedRequest&, std::size_t n) { return n == 1 ? first : ReceiverReply{}; };
}

// The verification example of the README, in Python's standard library.
bool readme_verifies(const std::string& secret, const std::string& header, const std::string& body) {
    const std::string script = R"(import hashlib, hmac, sys, time

def verify(secret: bytes, header: str, body: bytes, tolerance=300) -> bool:
    fields = dict(part.split("=", 1) for part in header.split(","))
    t = fields["t"]
    expected = hmac.new(secret, t.encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, fields["v1"]) and abs(time.time() - int(t)) <= tolerance

sys.exit(0 if verify(sys.argv[1].encode(), sys.argv[2], sys.argv[3].encode()) else 1)
)";
    return run_command({"/usr/bin/python3", "-c", script, secret, header, body});
}

}  // namespace

BOOST_AUTO_TEST_SUITE(webhook)

BOOST_AUTO_TEST_CASE(body_and_headers_arrive_intact_and_the_signature_verifies) {
    WebhookReceiver receiver;
    Server s({"--webhook-secret", "whsec_test"});
    const auto id = s.submit(webhook_job(local_url(receiver, "http", "/hooks/orders?source=jobq"), 3,
                                         R"(,"method":"PUT","headers":{"X-Trace":"abc-123"})"));
    BOOST_TEST(final_job(s, id).at("state").as_string() == "done");

    const auto requests = receiver.requests();
    BOOST_TEST_REQUIRE(requests.size() == 1u);
    const auto& r = requests[0];
    BOOST_TEST(r.method == "PUT");
    BOOST_TEST(r.target == "/hooks/orders?source=jobq");
    BOOST_TEST(json::parse(r.body) == json::parse(R"({"order":42,"note":"Grüße"})"));
    BOOST_TEST(r.headers.at("content-type") == "application/json");
    BOOST_TEST(r.headers.at("x-jobq-job-id") == std::to_string(id));
    BOOST_TEST(r.headers.at("x-jobq-attempt") == "1");
    BOOST_TEST(r.headers.at("x-trace") == "abc-123");
    BOOST_TEST(r.headers.at("host") == "127.0.0.1:" + std::to_string(receiver.port()));

    // X-Jobq-Signature: t=<seconds>,v1=<hex>; a receiver recomputes it over "<t>.<body>".
    const auto& signature = r.headers.at("x-jobq-signature");
    BOOST_TEST_REQUIRE(signature.starts_with("t="));
    const auto t = std::stoll(signature.substr(2, signature.find(',') - 2));
    BOOST_TEST(std::abs(t - std::time(nullptr)) < 60);
    BOOST_TEST(signature == jobq::handlers::webhook_signature("whsec_test", t, r.body));
    // The README's recipe, as a receiver would run it.
    BOOST_TEST(readme_verifies("whsec_test", signature, r.body));
    BOOST_TEST(!readme_verifies("other secret", signature, r.body));
    BOOST_TEST(!readme_verifies("whsec_test", signature, r.body + " "));
}

BOOST_AUTO_TEST_CASE(https_delivery_verifies_the_certificate_by_name_and_by_address) {
    Certificate certificate;
    WebhookReceiver receiver({}, certificate.files);
    Server s({"--ca-file", certificate.files.cert});
    const auto by_name = s.submit(webhook_job("https://localhost:" + std::to_string(receiver.port()) + "/tls"));
    const auto by_address = s.submit(webhook_job(local_url(receiver, "https", "/tls")));
    BOOST_TEST(final_job(s, by_name).at("state").as_string() == "done");
    BOOST_TEST(final_job(s, by_address).at("state").as_string() == "done");
    const auto requests = receiver.requests();
    BOOST_TEST_REQUIRE(requests.size() == 2u);
    for (const auto& r : requests) {
        BOOST_TEST(r.target == "/tls");
        BOOST_TEST(json::parse(r.body) == json::parse(R"({"order":42,"note":"Grüße"})"));
        BOOST_TEST(r.headers.count("x-jobq-signature") == 0u);  // no secret configured
    }
}

BOOST_AUTO_TEST_CASE(an_untrusted_certificate_is_a_retryable_error_naming_verification) {
    Certificate certificate;
    WebhookReceiver receiver({}, certificate.files);
    Server s;  // the system's store does not trust the test's certificate
    const auto job = final_job(s, s.submit(webhook_job(local_url(receiver, "https"), 1)));
    BOOST_TEST(job.at("state").as_string() == "failed");
    BOOST_TEST(job.at("attempts").as_int64() == 2);  // retried: not a permanent failure
    BOOST_TEST(last_error(job).find("certificate verify failed") != std::string::npos, last_error(job));
    BOOST_TEST(receiver.request_count() == 0u);
}

BOOST_AUTO_TEST_CASE(a_server_error_is_retried_and_then_succeeds) {
    WebhookReceiver receiver(first_then_ok({500, {}, "database busy", false}));
    Server s;
    const auto job = final_job(s, s.submit(webhook_job(local_url(receiver))));
    BOOST_TEST(job.at("state").as_string() == "done");
    BOOST_TEST(job.at("attempts").as_int64() == 2);
    const auto requests = receiver.requests();
    BOOST_TEST_REQUIRE(requests.size() == 2u);
    BOOST_TEST(requests[1].headers.at("x-jobq-attempt") == "2");
    BOOST_TEST(requests[0].body == requests[1].body);
}

BOOST_AUTO_TEST_CASE(not_found_fails_after_one_attempt_with_the_status_and_body) {
    WebhookReceiver receiver([](const ReceivedRequest&, std::size_t) {
        return ReceiverReply{404, {}, "no such hook\r\n", false};
    });
    Server s;
    const auto job = final_job(s, s.submit(webhook_job(local_url(receiver), 5)));
    BOOST_TEST(job.at("state").as_string() == "failed");
    BOOST_TEST(job.at("attempts").as_int64() == 1);
    BOOST_TEST(last_error(job) == "HTTP 404 Not Found: no such hook  ");
    BOOST_TEST(receiver.request_count() == 1u);
}

BOOST_AUTO_TEST_CASE(a_redirect_is_not_followed) {
    WebhookReceiver receiver([](const ReceivedRequest&, std::size_t) {
        return ReceiverReply{302, {{"Location", "http://127.0.0.1:1/elsewhere"}}, "", false};
    });
    Server s;
    const auto job = final_job(s, s.submit(webhook_job(local_url(receiver), 5)));
    BOOST_TEST(job.at("state").as_string() == "failed");
    BOOST_TEST(job.at("attempts").as_int64() == 1);
    BOOST_TEST(last_error(job).find("redirects are not followed") != std::string::npos, last_error(job));
    BOOST_TEST(receiver.request_count() == 1u);
}

BOOST_AUTO_TEST_CASE(retry_after_on_429_delays_the_next_attempt) {
    WebhookReceiver receiver(first_then_ok({429, {{"Retry-After", "2"}}, "slow down", false}));
    Server s;  // backoff of at most 50 ms: only Retry-After can make the wait 2 s
    const auto job = final_job(s, s.submit(webhook_job(local_url(receiver))), 20s);
    BOOST_TEST(job.at("state").as_string() == "done");
    const auto requests = receiver.requests();
    BOOST_TEST_REQUIRE(requests.size() == 2u);
    const auto waited = requests[1].at - requests[0].at;
    BOOST_TEST((waited >= 2s), "retried after " << std::chrono::duration_cast<std::chrono::milliseconds>(waited).count()
                                                << " ms");
}

BOOST_AUTO_TEST_CASE(a_hanging_server_times_out_and_the_job_is_retried) {
    WebhookReceiver receiver(first_then_ok({200, {}, "", true}));
    Server s({"--webhook-timeout-ms", "300"});
    const auto id = s.submit(webhook_job(local_url(receiver)));
    // The first attempt times out and is retried.
    const auto job = final_job(s, id);
    BOOST_TEST(job.at("state").as_string() == "done");
    BOOST_TEST(job.at("attempts").as_int64() == 2);
    const auto requests = receiver.requests();
    BOOST_TEST_REQUIRE(requests.size() == 2u);
    BOOST_TEST(requests[0].connection != requests[1].connection);  // the hung connection is abandoned
}

BOOST_AUTO_TEST_CASE(a_timeout_is_recorded_as_a_retryable_error) {
    WebhookReceiver receiver([](const ReceivedRequest&, std::size_t) { return ReceiverReply{200, {}, "", true}; });
    Server s({"--webhook-timeout-ms", "200"});
    const auto job = final_job(s, s.submit(webhook_job(local_url(receiver), 1)));
    BOOST_TEST(job.at("state").as_string() == "failed");
    BOOST_TEST(job.at("attempts").as_int64() == 2);
    BOOST_TEST(last_error(job).find("timed out") != std::string::npos, last_error(job));
}

BOOST_AUTO_TEST_CASE(a_denied_address_is_a_permanent_failure_and_nothing_connects) {
    WebhookReceiver receiver;
    // Loopback in both families: `localhost` may resolve to ::1 as well as 127.0.0.1.
    Server s({"--webhook-deny", "10.0.0.0/8, 127.0.0.0/8, ::1/128"});
    const auto job = final_job(s, s.submit(webhook_job(local_url(receiver), 5)));
    BOOST_TEST(job.at("state").as_string() == "failed");
    BOOST_TEST(job.at("attempts").as_int64() == 1);
    BOOST_TEST(last_error(job).find("127.0.0.1") != std::string::npos, last_error(job));
    BOOST_TEST(last_error(job).find("denied") != std::string::npos, last_error(job));
    // The guard looks at the resolved address: a name for the same address is refused too.
    const auto by_name = final_job(s, s.submit(webhook_job("http://localhost:" + std::to_string(receiver.port()), 5)));
    BOOST_TEST(by_name.at("state").as_string() == "failed");
    BOOST_TEST(last_error(by_name).find("denied") != std::string::npos, last_error(by_name));
    BOOST_TEST(receiver.connections() == 0u);
}

BOOST_AUTO_TEST_CASE(connections_are_kept_alive_and_reused) {
    WebhookReceiver receiver;
    Server s({"--workers", "4"});
    std::string batch = R"({"jobs":[)";
    for (int i = 0; i < 200; ++i) {
        if (i) batch += ',';
        batch += webhook_job(local_url(receiver));
    }
    batch += "]}";
    BOOST_TEST_REQUIRE(s.post("/jobs/batch", batch).status == 201);
    BOOST_TEST_REQUIRE(wait_until([&] { return receiver.request_count() >= 200; }, 20s));
    BOOST_TEST(receiver.request_count() == 200u);
    BOOST_TEST(receiver.connections() <= 4u);  // one per worker at most, not one per job
}

BOOST_AUTO_TEST_CASE(a_kept_connection_the_receiver_closed_is_not_held_against_the_job) {
    WebhookReceiver receiver([](const ReceivedRequest&, std::size_t) { return ReceiverReply{200, {}, "", false, true}; });
    Server s;
    for (int i = 0; i < 3; ++i) {
        const auto job = final_job(s, s.submit(webhook_job(local_url(receiver))));
        BOOST_TEST(job.at("state").as_string() == "done");
        BOOST_TEST(job.at("attempts").as_int64() == 1);  // not a failed attempt on the closed connection
    }
    BOOST_TEST(receiver.request_count() == 3u);
    BOOST_TEST(receiver.connections() == 3u);
}

BOOST_AUTO_TEST_CASE(invalid_webhook_payloads_are_refused_at_submission) {
    Server s;
    for (const auto* payload : {R"({"url":"ftp://127.0.0.1/x","body":{}})", R"({"url":"http://127.0.0.1/x"})",
                                R"({"url":"http://127.0.0.1/x","body":1,"method":"GET"})",
                                R"({"url":"http://127.0.0.1/x","body":1,"headers":{"Host":"evil"}})",
                                R"({"url":"http://127.0.0.1/x","body":1,"headers":{"X-A":"a\r\nB: b"}})"}) {
        const auto r = s.post("/jobs", std::string(R"({"type":"webhook","payload":)") + payload + "}");
        BOOST_TEST(r.status == 400, payload << " -> " << r.status);
        BOOST_TEST(Server::error_code(r) == "invalid_payload", r.body);
    }
}

BOOST_AUTO_TEST_SUITE_END()
