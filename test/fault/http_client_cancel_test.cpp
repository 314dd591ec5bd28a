// The webhook client keeps its pool right when a send is cancelled at any await inside it
// (Asio 1.81 throws at a cancelled coroutine's next co_await): before connecting, and while
// waiting for a response on a reused connection. A connection whose exchange was cut off
// never goes back to the idle pool (its late response would answer the next request), and
// after twice the pool's size of cancelled sends, a request still gets its own answer.

#include "net/http_client.hpp"

#include "webhook_receiver.hpp"

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
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

    bool run_until(const bool& done, std::chrono::milliseconds deadline) {
        const auto until = std::chrono::steady_clock::now() + deadline;
        while (!done && std::chrono::steady_clock::now() < until) {
            io.restart();
            io.run_for(10ms);
        }
        return done;
    }

    // A send cancelled `after` it started (zero: before its first await): whether it ended.
    bool cancelled_send(const http::Request& r, std::chrono::milliseconds after) {
        asio::cancellation_signal cancel;
        bool done = false;
        asio::co_spawn(io, client->send(r),
                       asio::bind_cancellation_slot(cancel.slot(), [&](std::exception_ptr, net::Result<http::Response>) {
                           done = true;
                       }));
        asio::steady_timer timer(io, after);
        if (after == 0ms) cancel.emit(asio::cancellation_type::terminal);
        else timer.async_wait([&](boost::system::error_code) { cancel.emit(asio::cancellation_type::terminal); });
        return run_until(done, 5s);
    }

    // The status of a send run to its end (0: it failed, with the failure's message).
    std::pair<unsigned, std::string> send(const http::Request& r) {
        std::optional<std::pair<unsigned, std::string>> outcome;
        asio::co_spawn(io, client->send(r), [&](std::exception_ptr e, net::Result<http::Response> result) {
            if (e) outcome.emplace(0, "threw");
            else if (!result) outcome.emplace(0, result.error().message);
            else outcome.emplace(result->status, result->body_prefix);
        });
        const auto until = std::chrono::steady_clock::now() + 10s;
        while (!outcome && std::chrono::steady_clock::now() < until) {
            io.restart();
            io.run_for(10ms);
        }
        BOOST_TEST_REQUIRE(outcome.has_value(), "the send did not end");
        return *outcome;
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
