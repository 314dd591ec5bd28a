// The webhook client keeps its pool right when a send is cancelled at any await inside it
// (Asio 1.81 throws at a cancelled coroutine's next co_await): before connecting, and while
// waiting for a response on a reused connection. A connection whose exchange was cut off
// never goes back to the idle pool (its late response would answer the next request), and
// after twice the pool's size of cancelled sends, a request still gets its own answer.

#include "net/http_client.hpp"

#include "cancelled_run.hpp"
#include "webhook_receiver.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/test/unit_test.hpp>

#include <optional>

using namespace jobq;
using namespace jobq::test;
namespace asio = boost::asio;
namespace http = net::http;
using namespace std::chrono_literals;

namespace {

constexpr std::size_t pool_size = 2;
constexpr std::size_t cancelled_runs = 2 * pool_size;

struct ClientFixture {
    asio::io_context io;
    std::unique_ptr<http::Client> client;

    void make_client() {
        http::ClientOptions options;
        options.timeout = 10s;  // far past the cancellation: the send is stuck where the peer hangs
        options.max_idle_per_origin = pool_size;
        client = std::make_unique<http::Client>(io.get_executor(), options);
    }

    http::Request request(std::uint16_t port, std::string body) {
        http::Request r;
        r.origin = {false, "127.0.0.1", port};
        r.target = "/hook";
        r.headers.emplace_back("Content-Type", "application/json");
        r.body = std::move(body);
        return r;
    }

    // A send cancelled `after` it started (zero: before its first await): whether it ended.
    bool cancelled_send(const http::Request& r, std::chrono::milliseconds after) {
        return run_cancelled(io, client->send(r), after);
    }

    // The status and body of a send run to its end (0 and the failure's message when it failed).
    std::pair<unsigned, std::string> send(const http::Request& r) {
        const auto result = run_to_end(io, client->send(r));
        BOOST_TEST_REQUIRE(result.has_value(), "the send did not end");
        if (!*result) return {0u, result->error().message};
        return {(*result)->status, (*result)->body_prefix};
    }
};

// Answers each request with its own body, but hangs on those whose body says "hang".
ReceiverReply echo_or_hang(const ReceivedRequest& request, std::size_t) {
    if (request.body == "\"hang\"") return ReceiverReply{200, {}, "", true, false};
    return ReceiverReply{200, {}, request.body, false, false};
}

}  // namespace

BOOST_AUTO_TEST_SUITE(http_client_cancel)

BOOST_FIXTURE_TEST_CASE(cancelled_before_connecting, ClientFixture) {
    WebhookReceiver receiver(echo_or_hang);
    make_client();
    for (std::size_t i = 0; i < cancelled_runs; ++i) BOOST_TEST_REQUIRE(cancelled_send(request(receiver.port(), "\"x\""), 0ms));
    const auto [status, body] = send(request(receiver.port(), "\"after\""));
    BOOST_TEST(status == 200u, body);
    BOOST_TEST(body == "\"after\"");
}

// Each round: a request answered (its connection goes idle), then one on that same
// connection that hangs and is cancelled. The cut-off connection must not be reused.
BOOST_FIXTURE_TEST_CASE(cancelled_waiting_for_a_response_on_a_reused_connection, ClientFixture) {
    WebhookReceiver receiver(echo_or_hang);
    make_client();
    for (std::size_t i = 0; i < cancelled_runs; ++i) {
        const auto [status, body] = send(request(receiver.port(), "\"round " + std::to_string(i) + "\""));
        BOOST_TEST_REQUIRE(status == 200u, body);
        BOOST_TEST_REQUIRE(cancelled_send(request(receiver.port(), "\"hang\""), 100ms));
    }
    const auto [status, body] = send(request(receiver.port(), "\"after\""));
    BOOST_TEST(status == 200u, body);
    BOOST_TEST(body == "\"after\"");  // its own answer, not a late one of a cut-off exchange
    // Every cancelled exchange took its connection with it: each round opened a new one.
    BOOST_TEST(client->connections_opened() == cancelled_runs + 1);
}

BOOST_AUTO_TEST_SUITE_END()
