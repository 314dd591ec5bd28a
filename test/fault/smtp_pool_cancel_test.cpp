// The SMTP pool keeps its books when a send is cancelled at any await inside it (Asio
// 1.81 throws at a cancelled coroutine's next co_await): connecting, the greeting, the
// TLS handshake, the NOOP probe of an idle connection, and the reply to DATA. After
// twice the pool's size of cancelled sends, no place is held by a connection that is
// gone, and a message still goes out. The peer is test/support/smtp_fault_server.py,
// which stalls at the chosen point on its first connections only.

#include "net/smtp/pool.hpp"

#include "cancelled_run.hpp"
#include "child_process.hpp"
#include "temp_dir.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/test/unit_test.hpp>

#include <optional>
#include <thread>

using namespace jobq;
using namespace jobq::test;
namespace asio = boost::asio;
namespace smtp = net::smtp;
using namespace std::chrono_literals;

namespace {

constexpr std::size_t pool_size = 2;
constexpr std::size_t cancelled_runs = 2 * pool_size;

struct StallingPeer {
    TempDir dir;
    std::unique_ptr<ChildProcess> process;
    std::uint16_t port = 0;

    StallingPeer(const std::string& mode, std::size_t faulty) {
        process = std::make_unique<ChildProcess>(std::vector<std::string>{
            "/usr/bin/python3", std::string(JOBQ_SOURCE_DIR) + "/test/support/smtp_fault_server.py", "--mode", mode,
            "--log", dir.file("commands.log"), "--faulty", std::to_string(faulty)});
        const auto ready = process->read_line(20s);
        BOOST_TEST_REQUIRE((ready && ready->starts_with("READY ")), "the SMTP peer did not start");
        port = static_cast<std::uint16_t>(std::stoi(ready->substr(6)));
    }
};

struct PoolFixture {
    asio::io_context io;
    std::unique_ptr<smtp::Pool> pool;
    smtp::Envelope envelope{"noreply@jobq.test", {"user@example.com"}, "Subject: s\r\n\r\nbody\r\n"};

    void make_pool(std::uint16_t port, smtp::TlsMode tls = smtp::TlsMode::none) {
        smtp::ServerOptions server;
        server.host = "127.0.0.1";
        server.port = port;
        server.tls = tls;
        server.timeout = 10s;  // far past the cancellation: the send is stuck where the peer stalls
        smtp::PoolOptions options;
        options.size = pool_size;
        options.acquire_timeout = 3s;
        pool = std::make_unique<smtp::Pool>(io.get_executor(), server, options);
    }

    // A send cancelled `after` it started (zero: before its first await): whether it ended.
    bool cancelled_send(std::chrono::milliseconds after) { return run_cancelled(io, pool->send(envelope), after); }

    // A send run to its end: its result, or a failure saying it did not end.
    net::Result<void> send() {
        auto sent = run_to_end(io, pool->send(envelope));
        BOOST_TEST_REQUIRE(sent.has_value(), "the send did not end");
        return *sent;
    }

    // The connections still open once every cancelled send has unwound.
    std::size_t open_after_unwinding() {
        io.restart();
        io.run_for(50ms);
        return pool->open_connections();
    }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(smtp_pool_cancel)

BOOST_FIXTURE_TEST_CASE(cancelled_while_connecting, PoolFixture) {
    StallingPeer peer("ok", 0);
    make_pool(peer.port);
    for (std::size_t i = 0; i < cancelled_runs; ++i) BOOST_TEST_REQUIRE(cancelled_send(0ms));
    BOOST_TEST(open_after_unwinding() == 0u);
    const auto sent = send();
    BOOST_TEST(sent.has_value(), (sent ? "" : sent.error().message));
}

BOOST_FIXTURE_TEST_CASE(cancelled_waiting_for_the_greeting, PoolFixture) {
    StallingPeer peer("silent", cancelled_runs);
    make_pool(peer.port);
    for (std::size_t i = 0; i < cancelled_runs; ++i) BOOST_TEST_REQUIRE(cancelled_send(100ms));
    BOOST_TEST(open_after_unwinding() == 0u);
    const auto sent = send();
    BOOST_TEST(sent.has_value(), (sent ? "" : sent.error().message));
}

BOOST_FIXTURE_TEST_CASE(cancelled_in_the_tls_handshake, PoolFixture) {
    // TLS from the first byte against a peer that never answers the ClientHello.
    StallingPeer peer("silent", cancelled_runs);
    make_pool(peer.port, smtp::TlsMode::implicit);
    for (std::size_t i = 0; i < cancelled_runs; ++i) BOOST_TEST_REQUIRE(cancelled_send(100ms));
    BOOST_TEST(open_after_unwinding() == 0u);
    // The next send gets a place and reaches the peer (which speaks plain text now, so the
    // handshake fails): it does not wait for places held by connections that are gone.
    const auto sent = send();
    BOOST_TEST_REQUIRE(sent.has_error());
    const auto failure = sent.error();
    BOOST_TEST(failure.message.find("waiting for a free SMTP connection") == std::string::npos, failure.message);
    BOOST_TEST(failure.message.find("TLS") != std::string::npos, failure.message);
}

BOOST_FIXTURE_TEST_CASE(cancelled_while_probing_an_idle_connection, PoolFixture) {
    StallingPeer peer("silent_to_noop", -1);
    make_pool(peer.port);
    for (std::size_t i = 0; i < cancelled_runs; ++i) {
        const auto sent = send();  // leaves the connection idle in the pool
        BOOST_TEST_REQUIRE(sent.has_value(), (sent ? "" : sent.error().message));
        std::this_thread::sleep_for(1100ms);  // idle long enough to be probed with NOOP before reuse
        BOOST_TEST_REQUIRE(cancelled_send(100ms));
    }
    BOOST_TEST(open_after_unwinding() == 0u);
    const auto sent = send();  // a new connection: no probe
    BOOST_TEST(sent.has_value(), (sent ? "" : sent.error().message));
}

BOOST_FIXTURE_TEST_CASE(cancelled_waiting_for_the_reply_to_data, PoolFixture) {
    StallingPeer peer("silent_after_data", cancelled_runs);
    make_pool(peer.port);
    for (std::size_t i = 0; i < cancelled_runs; ++i) BOOST_TEST_REQUIRE(cancelled_send(200ms));
    BOOST_TEST(open_after_unwinding() == 0u);
    const auto sent = send();
    BOOST_TEST(sent.has_value(), (sent ? "" : sent.error().message));
}

BOOST_FIXTURE_TEST_CASE(a_send_waits_for_a_free_place_until_its_deadline, PoolFixture) {
    StallingPeer peer("silent", -1);
    make_pool(peer.port);
    // Every place held by a send stuck on the greeting: the next one gives up at the deadline.
    bool stuck_done[pool_size] = {};
    for (auto& done : stuck_done)
        asio::co_spawn(io, pool->send(envelope), [&done](std::exception_ptr, net::Result<void>) { done = true; });
    io.restart();
    io.run_for(100ms);
    BOOST_TEST_REQUIRE(pool->open_connections() == pool_size);
    const auto started = std::chrono::steady_clock::now();
    const auto sent = send();
    BOOST_TEST_REQUIRE(sent.has_error());
    const auto failure = sent.error();
    BOOST_TEST(failure.message.find("waiting for a free SMTP connection") != std::string::npos, failure.message);
    BOOST_TEST((std::chrono::steady_clock::now() - started < 6s));
    pool.reset();
    io.stop();
}

BOOST_AUTO_TEST_SUITE_END()
