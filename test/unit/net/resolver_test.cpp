#include "net/resolver.hpp"

#include "common/asio_tokens.hpp"

#include <boost/test/unit_test.hpp>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>

#include <array>
#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace asio = boost::asio;
using namespace std::chrono_literals;
using jobq::use_nothrow;
using jobq::net::Resolver;
using jobq::net::ResolverOptions;
using tcp = asio::ip::tcp;
using udp = asio::ip::udp;
using steady = std::chrono::steady_clock;
using error_code = boost::system::error_code;
using Result = boost::system::result<std::vector<tcp::endpoint>>;

namespace {

// Runs `io` until `done` holds, at most `timeout`. Unlike run_awaitable it does not wait for
// the io_context to run out of work: the test DNS servers and abandoned queries keep it busy.
bool run_until(asio::io_context& io, const std::function<bool()>& done, std::chrono::milliseconds timeout) {
    const auto deadline = steady::now() + timeout;
    io.restart();
    while (!done())
        if (io.run_one_until(deadline) == 0) return done();
    return true;
}

template <class T>
T run_until_done(asio::io_context& io, asio::awaitable<T> task, std::chrono::milliseconds timeout = 5s) {
    auto result = asio::co_spawn(io, std::move(task), asio::use_future);
    if (!run_until(io, [&] { return result.wait_for(0s) == std::future_status::ready; }, timeout))
        throw std::runtime_error("coroutine did not finish before its deadline");
    return result.get();
}

std::string describe(const Result& result) {
    if (result.has_error()) return result.error().message();
    std::string text = std::to_string(result->size()) + " endpoints:";
    for (const auto& endpoint : *result) {
        text += ' ';  // not " " + string: GCC 12 at -O3 warns falsely there (-Wrestrict)
        text += endpoint.address().to_string();
    }
    return text;
}

double ms(steady::duration duration) { return std::chrono::duration<double, std::milli>(duration).count(); }

bool failed_with(const Result& result, error_code expected) { return result.has_error() && result.error() == expected; }

// A DNS server on 127.0.0.1: just enough of RFC 1035 to echo a question back.

struct Question {
    std::string name;
    std::uint16_t type = 0;
    std::size_t end = 0;  // past QCLASS: header and question, the part a reply repeats
};

std::uint16_t u16_at(std::string_view bytes, std::size_t at) {
    const auto byte = [&](std::size_t i) { return static_cast<unsigned>(static_cast<unsigned char>(bytes[i])); };
    return static_cast<std::uint16_t>(byte(at) << 8 | byte(at + 1));
}

void put_u16(std::string& bytes, std::size_t at, unsigned value) {
    bytes[at] = static_cast<char>((value >> 8) & 0xff);
    bytes[at + 1] = static_cast<char>(value & 0xff);
}

void append_u16(std::string& bytes, unsigned value) {
    bytes.resize(bytes.size() + 2);
    put_u16(bytes, bytes.size() - 2, value);
}

std::optional<Question> question_of(std::string_view query) {
    constexpr std::size_t header_size = 12;
    if (query.size() < header_size || u16_at(query, 4) != 1) return std::nullopt;
    Question question;
    std::size_t at = header_size;
    for (;;) {
        if (at >= query.size()) return std::nullopt;
        const std::size_t length = static_cast<unsigned char>(query[at++]);
        if (length == 0) break;
        if (length > 63 || at + length > query.size()) return std::nullopt;
        if (!question.name.empty()) question.name += '.';
        question.name.append(query.substr(at, length));
        at += length;
    }
    if (at + 4 > query.size()) return std::nullopt;
    question.type = u16_at(query, at);
    question.end = at + 4;
    return question;
}

// The query's header and question turned into a reply: QR and RA set, `rcode`, `answers`
// (`count` records) after the question, no authority or additional records.
std::string reply(std::string_view query, const Question& question, unsigned rcode, std::string_view answers = {},
                  unsigned count = 0) {
    std::string bytes(query.substr(0, question.end));
    bytes[2] = static_cast<char>(0x80 | (query[2] & 0x79));  // QR; the query's opcode and RD
    bytes[3] = static_cast<char>(0x80 | rcode);              // RA
    put_u16(bytes, 6, count);
    put_u16(bytes, 8, 0);
    put_u16(bytes, 10, 0);
    return bytes.append(answers);
}

std::string a_record(asio::ip::address_v4 address) {
    std::string record{'\xc0', '\x0c'};  // the name: a pointer to the question's
    append_u16(record, 1);               // TYPE A
    append_u16(record, 1);               // CLASS IN
    append_u16(record, 0);               // TTL (32 bits): 60 s
    append_u16(record, 60);
    append_u16(record, 4);               // RDLENGTH
    for (auto byte : address.to_bytes()) record += static_cast<char>(byte);
    return record;
}

constexpr unsigned rcode_nxdomain = 3;
constexpr std::uint16_t type_a = 1;

// What a server says to a query; empty: nothing.
using Policy = std::function<std::string(std::string_view query)>;

std::string silence(std::string_view) { return {}; }

std::string no_such_name(std::string_view query) {
    const auto question = question_of(query);
    return question ? reply(query, *question, rcode_nxdomain) : std::string();
}

// A 127.0.0.7 for any name; AAAA and the rest exist but are empty (NOERROR, no answer).
std::string everything_is_127_0_0_7(std::string_view query) {
    const auto question = question_of(query);
    if (!question) return {};
    if (question->type != type_a) return reply(query, *question, 0);
    return reply(query, *question, 0, a_record(asio::ip::make_address_v4("127.0.0.7")), 1);
}

// Silent for names whose first label is "never-answers", everything_is_127_0_0_7 otherwise.
std::string slow_for_never_answers(std::string_view query) {
    const auto question = question_of(query);
    if (question && question->name.starts_with("never-answers.")) return {};
    return everything_is_127_0_0_7(query);
}

struct ServerStats {
    int queries = 0;
    int unanswered = 0;
};

// Serves until the io_context is destroyed; a test bounds it by how long it runs the io_context.
asio::awaitable<void> serve(udp::socket socket, Policy policy, ServerStats& stats) {
    std::array<char, 1500> buffer;
    udp::endpoint peer;
    for (;;) {
        auto [ec, size] = co_await socket.async_receive_from(asio::buffer(buffer), peer, use_nothrow);
        if (ec) co_return;
        ++stats.queries;
        const auto answer = policy(std::string_view(buffer.data(), size));
        if (answer.empty()) ++stats.unanswered;
        else co_await socket.async_send_to(asio::buffer(answer), peer, use_nothrow);
    }
}

void rethrow(std::exception_ptr error) {
    if (error) std::rethrow_exception(error);
}

// A DNS server on 127.0.0.1 answering by `policy`; its address, for ResolverOptions::servers.
std::string start_dns_server(asio::io_context& io, Policy policy, ServerStats& stats) {
    udp::socket socket(io, udp::endpoint(asio::ip::make_address_v4("127.0.0.1"), 0));
    const auto port = socket.local_endpoint().port();
    asio::co_spawn(io, serve(std::move(socket), std::move(policy), stats), rethrow);
    return "127.0.0.1:" + std::to_string(port);
}

struct Timed {
    Result result;
    steady::duration took{};
    steady::time_point finished;
};

asio::awaitable<Timed> timed(Resolver& resolver, std::string host, std::chrono::milliseconds timeout) {
    const auto start = steady::now();
    auto result = co_await resolver.resolve(std::move(host), 443, timeout);
    const auto finished = steady::now();
    co_return Timed{std::move(result), finished - start, finished};
}

asio::awaitable<Timed> timed_after(std::chrono::milliseconds delay, Resolver& resolver, std::string host,
                                   std::chrono::milliseconds timeout) {
    asio::steady_timer timer(co_await asio::this_coro::executor, delay);
    co_await timer.async_wait(use_nothrow);
    co_return co_await timed(resolver, std::move(host), timeout);
}

struct Concurrent {
    Timed slow, by_hosts_file, by_number, by_dns;
};

// The fast lookups start 50 ms after the slow one, while its query is out.
asio::awaitable<Concurrent> slow_and_fast(Resolver& resolver) {
    using namespace asio::experimental::awaitable_operators;
    auto [slow, by_hosts_file, by_number, by_dns] =
        co_await (timed(resolver, "never-answers.invalid", 300ms) && timed_after(50ms, resolver, "localhost", 2s) &&
                  timed_after(50ms, resolver, "127.0.0.1", 2s) && timed_after(50ms, resolver, "answered.invalid", 2s));
    co_return Concurrent{std::move(slow), std::move(by_hosts_file), std::move(by_number), std::move(by_dns)};
}

void check_fast(const Timed& fast, const Timed& slow, const char* what) {
    BOOST_TEST_CONTEXT(what) {
        BOOST_TEST(fast.result.has_value(), describe(fast.result));
        BOOST_TEST(ms(fast.took) < 150.0);
        BOOST_TEST((fast.finished < slow.finished), "not done before the slow lookup");
    }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(resolver)

BOOST_AUTO_TEST_CASE(numeric_addresses_resolve_at_once) {
    ServerStats stats;
    asio::io_context io;
    Resolver resolver(io.get_executor(), {start_dns_server(io, silence, stats)});
    // A zero timeout: any lookup would have timed out.
    const auto v4 = run_until_done(io, resolver.resolve("127.0.0.1", 8080, 0ms));
    BOOST_TEST_REQUIRE(v4.has_value(), describe(v4));
    BOOST_TEST_REQUIRE(v4->size() == 1u);
    BOOST_TEST((v4->front() == tcp::endpoint(asio::ip::make_address("127.0.0.1"), 8080)));
    const auto v6 = run_until_done(io, resolver.resolve("::1", 8081, 0ms));
    BOOST_TEST_REQUIRE(v6.has_value(), describe(v6));
    BOOST_TEST_REQUIRE(v6->size() == 1u);
    BOOST_TEST((v6->front() == tcp::endpoint(asio::ip::make_address("::1"), 8081)));
    io.poll();  // a query sent meanwhile would be counted now
    BOOST_TEST(stats.queries == 0);
}

BOOST_AUTO_TEST_CASE(localhost_resolves_from_the_hosts_file) {
    ServerStats stats;
    asio::io_context io;
    Resolver resolver(io.get_executor(), {start_dns_server(io, silence, stats)});
    const auto start = steady::now();
    const auto result = run_until_done(io, resolver.resolve("localhost", 25, 2s));
    BOOST_TEST(ms(steady::now() - start) < 500.0);
    BOOST_TEST_REQUIRE(result.has_value(), describe(result));
    BOOST_TEST_REQUIRE(!result->empty());
    for (const auto& endpoint : *result) {
        BOOST_TEST(endpoint.address().is_loopback(), endpoint.address().to_string());
        BOOST_TEST(endpoint.port() == 25);
    }
    io.poll();
    BOOST_TEST(stats.queries == 0);  // c-ares never asks DNS about localhost
}

BOOST_AUTO_TEST_CASE(a_server_that_never_answers_times_out_and_delays_no_other_lookup) {
    ServerStats stats;
    asio::io_context io;
    Resolver resolver(io.get_executor(), {start_dns_server(io, slow_for_never_answers, stats)});
    const auto outcome = run_until_done(io, slow_and_fast(resolver));

    BOOST_TEST(failed_with(outcome.slow.result, asio::error::timed_out), describe(outcome.slow.result));
    BOOST_TEST(ms(outcome.slow.took) >= 300.0);
    BOOST_TEST(ms(outcome.slow.took) < 2000.0);
    BOOST_TEST(stats.unanswered > 0);  // the slow query did reach the server
    check_fast(outcome.by_hosts_file, outcome.slow, "localhost");
    check_fast(outcome.by_number, outcome.slow, "127.0.0.1");
    check_fast(outcome.by_dns, outcome.slow, "answered.invalid");
    // The resolver goes with a query still out: c-ares ends it with ARES_EDESTRUCTION.
}

BOOST_AUTO_TEST_CASE(nxdomain_is_host_not_found) {
    ServerStats stats;
    asio::io_context io;
    Resolver resolver(io.get_executor(), {start_dns_server(io, no_such_name, stats)});
    const auto start = steady::now();
    const auto result = run_until_done(io, resolver.resolve("no-such-name.invalid", 80, 2s));
    BOOST_TEST(failed_with(result, asio::error::host_not_found), describe(result));
    BOOST_TEST(ms(steady::now() - start) < 500.0);
    BOOST_TEST(stats.queries >= 2);  // A and AAAA
}

BOOST_AUTO_TEST_CASE(an_a_record_becomes_an_endpoint_with_the_port) {
    ServerStats stats;
    asio::io_context io;
    Resolver resolver(io.get_executor(), {start_dns_server(io, everything_is_127_0_0_7, stats)});
    const auto result = run_until_done(io, resolver.resolve("mail.example.invalid", 587, 2s));
    BOOST_TEST_REQUIRE(result.has_value(), describe(result));
    BOOST_TEST_REQUIRE(result->size() == 1u, describe(result));
    BOOST_TEST((result->front() == tcp::endpoint(asio::ip::make_address("127.0.0.7"), 587)));
}

BOOST_AUTO_TEST_CASE(a_lookup_pending_at_destruction_ends_with_operation_aborted) {
    ServerStats stats;
    asio::io_context io;
    const auto servers = start_dns_server(io, silence, stats);
    auto resolver = std::make_unique<Resolver>(io.get_executor(), ResolverOptions{servers});
    auto pending = asio::co_spawn(io, resolver->resolve("never-answers.invalid", 80, 10s), asio::use_future);
    BOOST_TEST_REQUIRE(run_until(io, [&] { return stats.queries > 0; }, 2s));
    resolver.reset();  // the io_context is not running: the documented moment
    const auto start = steady::now();
    BOOST_TEST_REQUIRE(run_until(io, [&] { return pending.wait_for(0s) == std::future_status::ready; }, 2s));
    BOOST_TEST(ms(steady::now() - start) < 500.0);
    const auto result = pending.get();
    BOOST_TEST(failed_with(result, asio::error::operation_aborted), describe(result));
}

// A job's run cancelled (its deadline, shutdown) while its lookup waits on a server that
// never answers: the caller ends at once, long before the lookup's own 10 s deadline.
BOOST_AUTO_TEST_CASE(a_caller_cancelled_while_its_lookup_waits_ends_at_once) {
    ServerStats stats;
    asio::io_context io;
    Resolver resolver(io.get_executor(), {start_dns_server(io, silence, stats)});
    asio::cancellation_signal cancel;
    std::optional<Result> result;
    asio::co_spawn(io, resolver.resolve("never-answers.invalid", 80, 10s),
                   asio::bind_cancellation_slot(cancel.slot(), [&](std::exception_ptr e, Result r) {
                       result = e ? Result(boost::system::error_code(asio::error::fault)) : std::move(r);
                   }));
    BOOST_TEST_REQUIRE(run_until(io, [&] { return stats.queries > 0; }, 2s));
    const auto start = steady::now();
    cancel.emit(asio::cancellation_type::terminal);
    BOOST_TEST_REQUIRE(run_until(io, [&] { return result.has_value(); }, 2s));
    BOOST_TEST(ms(steady::now() - start) < 500.0);
    BOOST_TEST(failed_with(*result, asio::error::operation_aborted), describe(*result));
}

BOOST_AUTO_TEST_CASE(a_malformed_server_list_throws) {
    asio::io_context io;
    BOOST_CHECK_THROW(Resolver(io.get_executor(), {"not an address"}), std::runtime_error);
}

BOOST_AUTO_TEST_SUITE_END()
