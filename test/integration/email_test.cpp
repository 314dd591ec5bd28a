// Email jobs end to end: build/jobq delivers through a real SMTP server (aiosmtpd) that
// requires STARTTLS and AUTH; the test reads what the server received.

#include "http_client.hpp"
#include "server_fixture.hpp"
#include "server_process.hpp"
#include "smtp_server_fixture.hpp"
#include "wait.hpp"

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include <map>

using namespace jobq::test;
namespace json = boost::json;
using namespace std::chrono_literals;

namespace {

std::string email_job(int i) {
    if (i % 100 == 7)
        return R"({"type":"email","payload":{"to":"user)" + std::to_string(i) +
               R"(@example.com","subject":"Grüße 7","body":"Здравствуй\n.\nend"}})";
    return R"({"type":"email","payload":{"email":"user)" + std::to_string(i) + R"(@example.com","subject":"Hello )" +
           std::to_string(i) + R"(","message":"Body )" + std::to_string(i) + R"("}})";
}

// The value of a header (on one line), or "".
struct MailingServer : SmtpServer {
    std::unique_ptr<ServerProcess> jobq;
    std::unique_ptr<HttpClient> client;

    explicit MailingServer(std::vector<std::string> extra = {}) {
        std::vector<std::string> args{"--smtp-host", "127.0.0.1", "--smtp-port", std::to_string(port),
                                      "--smtp-user", "mailer", "--smtp-password", "s3cret",
                                      "--smtp-from", "jobq <noreply@jobq.test>", "--smtp-ca-file", cert,
                                      "--retry-base-ms", "50", "--retry-max-ms", "200"};
        args.insert(args.end(), extra.begin(), extra.end());
        jobq = std::make_unique<ServerProcess>(dir.file("jobs.db"), std::move(args), dir.file("jobq.log"));
        BOOST_TEST_REQUIRE(jobq->start(), jobq->log());
        client = std::make_unique<HttpClient>(jobq->port());
    }

    // Submits `n` plain emails in one batch.
    void submit_batch(int n) {
        std::string batch = R"({"jobs":[)";
        for (int i = 0; i < n; ++i) {
            if (i) batch += ',';
            batch += email_job(i);
        }
        batch += "]}";
        const auto r = client->post("/jobs/batch", batch);
        BOOST_TEST_REQUIRE(r.has_value());
        BOOST_TEST_REQUIRE(r->status == 201, r->body);
    }

    std::int64_t done() {
        const auto r = client->get("/stats");
        return r ? json::parse(r->body).at("jobs").at("done").as_int64() : -1;
    }
};

std::string header(const std::string& content, const std::string& name) {
    const std::string text = "\r\n" + content;  // every header line now starts after a CRLF
    const auto at = text.find("\r\n" + name + ": ");
    if (at == std::string::npos) return {};
    const auto start = at + name.size() + 4;
    return text.substr(start, text.find("\r\n", start) - start);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(email)

BOOST_FIXTURE_TEST_CASE(five_hundred_emails_are_delivered_with_their_headers, MailingServer) {
    submit_batch(500);
    const auto page = json::parse(client->get("/jobs?limit=1000")->body);
    const auto& listed = page.at("jobs").as_array();
    BOOST_TEST_REQUIRE(listed.size() == 500u);

    BOOST_TEST_REQUIRE(wait_until([&] { return done() == 500; }, 90s), "done: " << done() << "\n" << jobq->log());
    BOOST_TEST(received() == 500u);

    std::map<std::string, json::object> by_recipient;
    for (int n = 1; n <= 500; ++n) {
        auto m = message(n);
        by_recipient[std::string(m.at("rcpt_tos").as_array().at(0).as_string())] = std::move(m);
    }
    BOOST_TEST_REQUIRE(by_recipient.size() == 500u);
    for (int i = 0; i < 500; i += 37) {
        if (i % 100 == 7) continue;  // the UTF-8 ones, checked below
        const auto& m = by_recipient.at("user" + std::to_string(i) + "@example.com");
        const std::string content(m.at("content").as_string());
        BOOST_TEST(m.at("mail_from").as_string() == "noreply@jobq.test");
        BOOST_TEST(header(content, "From") == "jobq <noreply@jobq.test>");
        BOOST_TEST(header(content, "To") == "user" + std::to_string(i) + "@example.com");
        BOOST_TEST(header(content, "Subject") == "Hello " + std::to_string(i));
        BOOST_TEST(header(content, "Date").ends_with(" +0000"));
        BOOST_TEST(header(content, "Message-ID") ==
                   "<jobq." + std::to_string(listed[static_cast<std::size_t>(i)].at("id").as_int64()) + "." +
                       header(content, "Message-ID").substr(header(content, "Message-ID").find('.', 6) + 1));
        BOOST_TEST(content.find("\r\n\r\nBody " + std::to_string(i) + "\r\n") != std::string::npos);
    }
    // The SMTP password is nowhere to be read.
    BOOST_TEST(jobq->log().find("s3cret") == std::string::npos);
    BOOST_TEST(client->get("/stats")->body.find("s3cret") == std::string::npos);
    BOOST_TEST(client->get("/metrics")->body.find("s3cret") == std::string::npos);
    // UTF-8 subject and body, and a line holding a single dot.
    const std::string utf8(by_recipient.at("user7@example.com").at("content").as_string());
    BOOST_TEST(header(utf8, "Subject") == "=?UTF-8?B?R3LDvMOfZSA3?=");
    BOOST_TEST(utf8.find("=D0=97=D0=B4=D1=80=D0=B0=D0=B2=D1=81=D1=82=D0=B2=D1=83=D0=B9\r\n.\r\nend") !=
               std::string::npos);
}

struct SmallPool : MailingServer {
    SmallPool() : MailingServer({"--smtp-pool-size", "2", "--smtp-max-messages-per-connection", "10"}) {}
};

BOOST_FIXTURE_TEST_CASE(connections_are_reused_and_replaced_after_their_message_limit, SmallPool) {
    submit_batch(60);
    BOOST_TEST_REQUIRE(wait_until([&] { return done() == 60; }, 60s), jobq->log());
    BOOST_TEST(received() == 60u);
    BOOST_TEST(connections() >= 6u);   // at most 10 messages each
    BOOST_TEST(connections() <= 12u);  // and reused: not one per message
}

struct RateLimited : MailingServer {
    RateLimited() : MailingServer({"--smtp-rate-limit", "20"}) {}
};

BOOST_FIXTURE_TEST_CASE(the_rate_limit_spaces_messages_and_fails_none, RateLimited) {
    const auto started = std::chrono::steady_clock::now();
    submit_batch(21);
    BOOST_TEST_REQUIRE(wait_until([&] { return done() == 21; }, 30s), jobq->log());
    // 21 messages at 20 per second: the last goes out no sooner than a second after the first.
    BOOST_TEST((std::chrono::steady_clock::now() - started >= 950ms));
    BOOST_TEST(received() == 21u);
}

BOOST_FIXTURE_TEST_CASE(a_bad_email_payload_is_refused_at_submission, Server) {
    for (const char* payload : {R"({"to":"x@y.z\r\nDATA","subject":"s","body":"b"})",
                                R"({"to":"x@y.z","subject":"s\r\nBcc: z@y.z","body":"b"})",
                                R"({"to":"x@y.z","body":"b"})"}) {
        const auto r = post("/jobs", std::string(R"({"type":"email","payload":)") + payload + "}");
        BOOST_TEST(r.status == 400, payload);
        BOOST_TEST(error_code(r) == "invalid_payload", payload);
    }
}

BOOST_FIXTURE_TEST_CASE(without_smtp_settings_email_jobs_are_retried_with_a_clear_error, Server) {
    const auto id = submit(R"({"type":"email","max_retries":1,"payload":{"to":"x@y.z","subject":"s","body":"b"}})");
    BOOST_TEST_REQUIRE(wait_until([&] { return state_of(id) == "failed"; }, 10s));
    const auto j = job(id);
    BOOST_TEST(j.at("attempts").as_int64() == 2);  // retryable: it ran again
    BOOST_TEST(j.at("last_error").as_string().find("SMTP is not configured") != std::string::npos);
    BOOST_TEST(get("/healthz").status == 200);
}

BOOST_AUTO_TEST_SUITE_END()
