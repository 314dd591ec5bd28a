// The HTTP server against slow, greedy and hostile clients: timeouts, body limits,
// pipelining, connection limits and admission control.

#include "server_fixture.hpp"
#include "wait.hpp"

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include <cstdio>
#include <thread>

using namespace jobq::test;
namespace json = boost::json;
using namespace std::chrono_literals;

namespace {

using steady = std::chrono::steady_clock;

struct ShortTimeouts : Server {
    ShortTimeouts()
        : Server({"--header-timeout-ms", "300", "--idle-timeout-ms", "400", "--request-timeout-ms", "2000"}) {}
};

// One chunk of a chunked body, with an extension when given (which a server ignores).
std::string chunk(const std::string& data, const std::string& extension = "") {
    char size[20];
    std::snprintf(size, sizeof size, "%zx", data.size());
    return size + extension + "\r\n" + data + "\r\n";
}

const std::string chunked_post = "POST /jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                                 "Transfer-Encoding: chunked\r\n\r\n";

}  // namespace

BOOST_AUTO_TEST_SUITE(http_hardening)

BOOST_FIXTURE_TEST_CASE(a_slowloris_client_is_cut_off_by_the_header_timeout, ShortTimeouts) {
    HttpClient slow(server.port());
    BOOST_TEST_REQUIRE(slow.send_only("POST /jobs HTTP/1.1\r\nHost: 127.0.0.1\r\n"));
    const auto started = steady::now();
    bool cut_off = false;
    // One more header byte every 50 ms, for at most 5 s: the headers never end.
    for (int i = 0; i < 100 && !cut_off; ++i) {
        cut_off = !slow.send_only("X") || slow.closed_by_server(50ms);
    }
    const auto took = steady::now() - started;
    BOOST_TEST(cut_off);
    BOOST_TEST((took >= 250ms));
    BOOST_TEST((took < 3s));
    BOOST_TEST(get("/healthz").status == 200);  // everyone else is still served
}

BOOST_FIXTURE_TEST_CASE(an_idle_connection_is_closed_after_the_idle_timeout, ShortTimeouts) {
    BOOST_TEST(get("/healthz").status == 200);
    const auto started = steady::now();
    BOOST_TEST(client->closed_by_server(5s));
    BOOST_TEST((steady::now() - started >= 300ms));
}

BOOST_FIXTURE_TEST_CASE(a_slow_request_within_its_timeouts_is_served, ShortTimeouts) {
    HttpClient patient(server.port());
    const std::string body = R"({"type":"noop","payload":{}})";
    BOOST_TEST_REQUIRE(patient.send_only("POST /jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                                         "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n"));
    // The body arrives in pieces, within the request timeout but past the header one.
    for (const char c : body) {
        std::this_thread::sleep_for(20ms);
        BOOST_TEST_REQUIRE(patient.send_only(std::string(1, c)));
    }
    const auto r = patient.read_reply();
    BOOST_TEST_REQUIRE(r.has_value());
    BOOST_TEST(r->status == 201, r->body);
}

BOOST_FIXTURE_TEST_CASE(a_20_mib_body_is_refused_413_before_it_is_sent, Server) {
    HttpClient greedy(server.port());
    const auto started = steady::now();
    BOOST_TEST_REQUIRE(greedy.send_only("POST /jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                                        "Content-Length: 20971520\r\n\r\n" + std::string(64 << 10, ' ')));
    const auto r = greedy.read_reply();  // without sending the other 20 MiB
    BOOST_TEST_REQUIRE(r.has_value());
    BOOST_TEST(r->status == 413);
    BOOST_TEST(error_code(*r) == "body_too_large");
    BOOST_TEST((steady::now() - started < 2s));
    BOOST_TEST(greedy.closed_by_server(5s));
}

BOOST_FIXTURE_TEST_CASE(oversized_headers_are_431, Server) {
    const auto r = client->raw("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + std::string(64 << 10, 'h') +
                               "\r\n\r\n");
    BOOST_TEST_REQUIRE(r.has_value());
    BOOST_TEST(r->status == 431);
    BOOST_TEST(error_code(*r) == "headers_too_large");
}

BOOST_FIXTURE_TEST_CASE(a_chunked_body_is_read_whole, Server) {
    const auto r = client->raw(chunked_post + chunk(R"({"type":"noop",)") +
                               chunk(R"("payload":{"n":"chunk"})", ";name=value") + chunk("}") + "0\r\n\r\n");
    BOOST_TEST_REQUIRE(r.has_value());
    BOOST_TEST_REQUIRE(r->status == 201, r->body);
    const auto id = json::parse(r->body).at("id").as_int64();
    BOOST_TEST(json::serialize(job(id).at("payload")) == R"({"n":"chunk"})");
}

struct SmallBodies : Server {
    SmallBodies() : Server({"--max-body-bytes", "1024"}) {}
};

BOOST_FIXTURE_TEST_CASE(a_chunked_body_over_the_limit_is_413, SmallBodies) {
    const std::string half(800, ' ');
    const auto r = client->raw(chunked_post + chunk(half) + chunk(half) + "0\r\n\r\n");
    BOOST_TEST_REQUIRE(r.has_value());
    BOOST_TEST(r->status == 413);
    BOOST_TEST(error_code(*r) == "body_too_large");
}

// As HTTP allows for a field that is not a list, the first occurrence is the one read.
BOOST_FIXTURE_TEST_CASE(of_a_repeated_content_type_the_first_counts, Server) {
    const std::string body = R"({"type":"noop","payload":{}})";
    const auto request = [&](std::string_view first, std::string_view second) {
        return "POST /jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: " + std::string(first) +
               "\r\nContent-Type: " + std::string(second) + "\r\nContent-Length: " + std::to_string(body.size()) +
               "\r\n\r\n" + body;
    };
    const auto text_first = client->raw(request("text/plain", "application/json"));
    BOOST_TEST_REQUIRE(text_first.has_value());
    BOOST_TEST(text_first->status == 415);
    const auto json_first = client->raw(request("application/json", "text/plain"));
    BOOST_TEST_REQUIRE(json_first.has_value());
    BOOST_TEST(json_first->status == 201, json_first->body);
}

BOOST_FIXTURE_TEST_CASE(an_http_1_0_connection_closes_after_its_reply_unless_kept_alive, Server) {
    HttpClient once(server.port());
    const auto closing = once.raw("GET /healthz HTTP/1.0\r\n\r\n");
    BOOST_TEST_REQUIRE(closing.has_value());
    BOOST_TEST(closing->status == 200);
    BOOST_TEST(once.closed_by_server(5s));

    HttpClient kept(server.port());
    for (int i = 0; i < 2; ++i) {
        const auto r = kept.raw("GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
        BOOST_TEST_REQUIRE(r.has_value(), "request " << i);
        BOOST_TEST(r->status == 200);
        BOOST_TEST(r->headers.at("connection") == "keep-alive");
    }
}

BOOST_FIXTURE_TEST_CASE(a_thousand_pipelined_requests_are_answered_in_order, Server) {
    const auto id = submit(R"({"type":"noop","payload":{}})");
    std::string burst;
    for (int i = 0; i < 1000; ++i) {
        const auto target = i % 2 ? "/jobs/" + std::to_string(id) : "/jobs/" + std::to_string(1'000'000 + i);
        burst += "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    }
    HttpClient pipelined(server.port());
    BOOST_TEST_REQUIRE(pipelined.send_only(burst));
    int in_order = 0;
    for (int i = 0; i < 1000; ++i) {
        const auto r = pipelined.read_reply();
        BOOST_TEST_REQUIRE(r.has_value(), "reply " << i);
        const auto body = json::parse(r->body);
        const bool expected = i % 2 ? r->status == 200 && body.at("id").as_int64() == id
                                    : r->status == 404 && body.at("error").at("message").as_string() ==
                                                               "no job " + std::to_string(1'000'000 + i);
        in_order += expected ? 1 : 0;
    }
    BOOST_TEST(in_order == 1000);
}

struct TwoConnections : Server {
    TwoConnections() : Server({"--max-connections", "2"}) {}
};

BOOST_FIXTURE_TEST_CASE(connections_beyond_the_limit_are_refused_and_the_rest_served, TwoConnections) {
    BOOST_TEST(get("/healthz").status == 200);  // the fixture's connection: 1 of 2
    HttpClient second(server.port());
    BOOST_TEST(second.get("/healthz")->status == 200);
    HttpClient third(server.port());
    const auto refused = third.get("/healthz");
    BOOST_TEST((!refused || refused->status == 503));
    if (refused) BOOST_TEST(error_code(*refused) == "too_many_connections");
    BOOST_TEST(get("/healthz").status == 200);  // those already in are still served
    client.reset();                            // frees a place
    BOOST_TEST(wait_until(
        [&] {
            HttpClient next(server.port());
            const auto r = next.get("/healthz");
            return r && r->status == 200;
        },
        5s));
}

struct OnePendingWrite : Server {
    OnePendingWrite() : Server({"--max-pending-writes", "1"}) {}
};

BOOST_FIXTURE_TEST_CASE(submissions_beyond_the_admission_limit_get_429_and_retry_after, OnePendingWrite) {
    const std::string job = R"({"type":"noop","payload":{}})";
    const auto refused = post("/jobs/batch", R"({"jobs":[)" + job + "," + job + "]}");  // 2 jobs > 1 place
    BOOST_TEST(refused.status == 429);
    BOOST_TEST(error_code(refused) == "too_many_requests");
    BOOST_TEST(refused.headers.at("retry-after") == "1");
    BOOST_TEST(json::parse(get("/stats").body).at("jobs").at("queued").as_int64() == 0);

    // Under concurrent load some submissions are refused, and every accepted one is stored.
    std::vector<std::thread> clients;
    std::mutex mutex;
    std::vector<std::int64_t> accepted;
    int too_many = 0;
    for (int c = 0; c < 8; ++c)
        clients.emplace_back([&] {
            HttpClient own(server.port());
            for (int i = 0; i < 50; ++i) {
                const auto r = own.post("/jobs", job);
                if (!r) continue;
                const std::lock_guard lock(mutex);
                if (r->status == 201) accepted.push_back(json::parse(r->body).at("id").as_int64());
                if (r->status == 429) ++too_many;
            }
        });
    for (auto& t : clients) t.join();
    BOOST_TEST(!accepted.empty());
    BOOST_TEST(accepted.size() + static_cast<std::size_t>(too_many) == 400u);
    for (const auto id : accepted) BOOST_TEST(get("/jobs/" + std::to_string(id)).status == 200);
}

BOOST_AUTO_TEST_SUITE_END()
