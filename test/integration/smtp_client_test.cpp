// net/smtp against a real SMTP server (aiosmtpd) that requires STARTTLS and AUTH, with a
// self-signed certificate made for the test.

#include "run_awaitable.hpp"
#include "smtp_server_fixture.hpp"
#include "wait.hpp"

#include "net/smtp/client.hpp"
#include "net/smtp/pool.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

using namespace jobq;
using namespace jobq::test;
using namespace std::chrono_literals;
namespace asio = boost::asio;
namespace json = boost::json;
namespace smtp = jobq::net::smtp;

namespace {

smtp::Envelope envelope(int n, std::string body = "Hello") {
    return {"sender@jobq.test", {"to" + std::to_string(n) + "@example.com"},
            "Subject: message " + std::to_string(n) + "\r\n\r\n" + std::move(body) + "\r\n"};
}

smtp::Connection::Opened open(asio::io_context& io, smtp::ServerOptions options, asio::ssl::context& tls) {
    jobq::net::Resolver resolver(io.get_executor());
    return run_awaitable(io, smtp::Connection::open(io.get_executor(), std::move(options), tls, resolver));
}

}  // namespace

BOOST_AUTO_TEST_SUITE(smtp_client)

BOOST_FIXTURE_TEST_CASE(delivers_over_starttls_with_auth_on_one_connection, SmtpServer) {
    asio::io_context io;
    auto tls = net::make_tls_context(cert);
    auto opened = open(io, options(), tls);
    BOOST_TEST_REQUIRE(opened.has_value(), (opened ? "" : opened.error().message));
    auto& connection = **opened;
    for (int i = 1; i <= 20; ++i) {
        const auto sent = run_awaitable(io, connection.send(envelope(i, i == 7 ? "before\r\n.\r\nafter" : "Hello")));
        BOOST_TEST_REQUIRE(sent.has_value(), (sent ? "" : sent.error().message));
    }
    BOOST_TEST(connection.messages_sent() == 20u);
    BOOST_TEST(run_awaitable(io, connection.alive()));
    run_awaitable(io, connection.quit());

    BOOST_TEST_REQUIRE(wait_until([&] { return received() == 20u; }, 10s));
    const auto first = message(1);
    BOOST_TEST(first.at("mail_from").as_string() == "sender@jobq.test");
    BOOST_TEST(first.at("rcpt_tos").as_array().at(0).as_string() == "to1@example.com");
    BOOST_TEST(first.at("content").as_string().find("Subject: message 1\r\n") != std::string::npos);
    // A line holding a single dot survives the dot-stuffing.
    BOOST_TEST(message(7).at("content").as_string().find("before\r\n.\r\nafter") != std::string::npos);
}

BOOST_FIXTURE_TEST_CASE(a_certificate_that_does_not_verify_is_a_retryable_failure, SmtpServer) {
    SmtpServer other;  // its certificate is not the one this server presents
    asio::io_context io;
    auto tls = net::make_tls_context(other.cert);
    const auto opened = open(io, options(), tls);
    BOOST_TEST_REQUIRE(opened.has_error());
    const auto failure = opened.error();
    BOOST_TEST(!failure.permanent);
    BOOST_TEST(failure.message.find("certificate verify failed") != std::string::npos, failure.message);
    BOOST_TEST(received() == 0u);
}

BOOST_FIXTURE_TEST_CASE(a_wrong_password_is_permanent_and_not_echoed, SmtpServer) {
    asio::io_context io;
    auto tls = net::make_tls_context(cert);
    const auto opened = open(io, options("wrong-password"), tls);
    BOOST_TEST_REQUIRE(opened.has_error());
    const auto failure = opened.error();
    BOOST_TEST(failure.permanent, failure.message);
    BOOST_TEST(failure.message.find("535") != std::string::npos, failure.message);
    BOOST_TEST(failure.message.find("wrong-password") == std::string::npos);
}

asio::awaitable<void> sleep_for(std::chrono::milliseconds duration) {
    asio::steady_timer timer(co_await asio::this_coro::executor, duration);
    co_await timer.async_wait(asio::use_awaitable);
}

struct PoolObservations {
    net::Result<void> sent;
    std::size_t open_after_sending = 0;
    std::size_t open_after_idling = 0;
};

// Within one run of the io_context: running it to completion between steps would also
// run the pool's idle retirement.
asio::awaitable<PoolObservations> send_three_then_idle(smtp::Pool& pool) {
    PoolObservations seen;
    for (int i = 1; i <= 3 && seen.sent; ++i) seen.sent = co_await pool.send(envelope(i));
    seen.open_after_sending = pool.open_connections();
    co_await sleep_for(800ms);
    seen.open_after_idling = pool.open_connections();
    co_return seen;
}

BOOST_FIXTURE_TEST_CASE(the_pool_reuses_a_connection_and_closes_it_when_idle, SmtpServer) {
    asio::io_context io;
    smtp::PoolOptions pool_options;
    pool_options.size = 4;
    pool_options.idle_timeout = 300ms;
    smtp::Pool pool(io.get_executor(), options(), pool_options);
    const auto seen = run_awaitable(io, send_three_then_idle(pool));
    BOOST_TEST_REQUIRE(seen.sent.has_value(), (seen.sent ? "" : seen.sent.error().message));
    BOOST_TEST(seen.open_after_sending == 1u);  // one after the other: the same session
    BOOST_TEST(seen.open_after_idling == 0u);   // retired while idle, with no send to notice
    BOOST_TEST(wait_until([&] { return received() == 3u; }, 10s));
    BOOST_TEST(connections() == 1u);
}

struct ImplicitTlsServer : SmtpServer {
    ImplicitTlsServer() : SmtpServer(true) {}
};

BOOST_FIXTURE_TEST_CASE(delivers_over_tls_from_the_first_byte, ImplicitTlsServer) {
    asio::io_context io;
    auto tls = net::make_tls_context(cert);
    auto o = options();
    o.tls = smtp::TlsMode::implicit;
    auto opened = open(io, o, tls);
    BOOST_TEST_REQUIRE(opened.has_value(), (opened ? "" : opened.error().message));
    auto& connection = **opened;
    const auto sent = run_awaitable(io, connection.send(envelope(1)));
    BOOST_TEST(sent.has_value(), (sent ? "" : sent.error().message));
    run_awaitable(io, connection.quit());
    BOOST_TEST(wait_until([&] { return received() == 1u; }, 10s));
}

BOOST_AUTO_TEST_CASE(nothing_listening_is_a_retryable_failure) {
    asio::io_context io;
    auto tls = net::make_tls_context("");
    smtp::ServerOptions o;
    o.host = "127.0.0.1";
    o.port = 1;  // nothing listens on port 1 on loopback
    o.timeout = 2s;
    const auto opened = open(io, o, tls);
    BOOST_TEST_REQUIRE(opened.has_error());
    BOOST_TEST(!opened.error().permanent);
    BOOST_TEST(opened.error().message.find("cannot connect") != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
