#include "net/smtp/client.hpp"

#include "common/asio_tokens.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/write.hpp>

#include <array>

namespace jobq::net::smtp {

namespace asio = boost::asio;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using namespace asio::experimental::awaitable_operators;

namespace {

Failure retryable(std::string message) { return Failure{false, std::move(message)}; }

// Runs `op` against a timer: nullopt when the timer wins (the operation is cancelled).
template <class T>
asio::awaitable<std::optional<T>> with_timeout(asio::awaitable<T> op, std::chrono::milliseconds timeout) {
    asio::steady_timer timer(co_await asio::this_coro::executor, timeout);
    auto result = co_await (std::move(op) || timer.async_wait(use_nothrow));
    if (result.index() == 1) co_return std::nullopt;
    co_return std::get<0>(std::move(result));
}

std::string describe(const boost::system::error_code& ec) {
    // OpenSSL's reason ("certificate verify failed") is what an operator needs to see.
    return ec.message();
}

}  // namespace

Connection::Connection(asio::any_io_executor executor, ServerOptions options, ssl::context& tls)
    : options_(std::move(options)),
      stream_(std::move(executor), tls),
      session_(SessionOptions{options_.client_name, options_.tls, options_.credentials}) {}

asio::awaitable<Connection::Opened> Connection::open(asio::any_io_executor executor, ServerOptions options,
                                                     ssl::context& tls, Resolver& resolver) {
    auto connection = std::make_unique<Connection>(std::move(executor), std::move(options), tls);
    if (auto connected = co_await connection->connect(resolver); !connected) co_return connected.error();
    if (connection->options_.tls == TlsMode::implicit) {
        if (auto secured = co_await connection->handshake(); !secured) co_return secured.error();
    }
    const Step step = co_await connection->drive(connection->session_.start());
    if (step.kind == Step::Kind::failed) co_return step.failure;
    if (step.kind != Step::Kind::ready) co_return retryable("the SMTP session did not become ready");
    co_return std::move(connection);
}

asio::awaitable<Result<void>> Connection::connect(Resolver& resolver) {
    const auto port = std::to_string(options_.port);
    // The resolver keeps the deadline itself: a lookup that hangs fails at the timeout.
    auto endpoints = co_await resolver.resolve(options_.host, options_.port, options_.timeout);
    if (endpoints.error() == asio::error::timed_out) co_return retryable("timed out resolving " + options_.host);
    if (!endpoints) co_return retryable("cannot resolve " + options_.host + ": " + describe(endpoints.error()));
    auto connected = co_await with_timeout(
        asio::async_connect(stream_.next_layer(), *endpoints, use_nothrow), options_.timeout);
    if (!connected) co_return retryable("timed out connecting to " + options_.host + ":" + port);
    if (auto [ec, endpoint] = *connected; ec)
        co_return retryable("cannot connect to " + options_.host + ":" + port + ": " + describe(ec));
    co_return Result<void>();
}

asio::awaitable<Result<void>> Connection::handshake() {
    if (!expect_server(stream_, options_.host)) co_return retryable("cannot set the TLS server name");
    auto done = co_await with_timeout(stream_.async_handshake(ssl::stream_base::client, use_nothrow), options_.timeout);
    if (!done) co_return retryable("timed out in the TLS handshake with " + options_.host);
    if (auto [ec] = *done; ec) co_return retryable("TLS handshake with " + options_.host + " failed: " + describe(ec));
    encrypted_ = true;
    co_return Result<void>();
}

Step Connection::failed(Failure failure, bool session_usable) {
    if (!session_usable) usable_ = false;
    return Step{Step::Kind::failed, {}, std::move(failure), session_usable};
}

asio::awaitable<Step> Connection::drive(Step step) {
    for (;;) {
        if (step.kind == Step::Kind::failed) co_return failed(std::move(step.failure), step.session_usable);
        if (step.kind == Step::Kind::start_tls) {
            // Bytes after the 220 arrived before encryption: someone may have injected them.
            if (parser_.has_unread_bytes()) co_return failed(retryable("data after the STARTTLS reply; dropped"));
            if (auto secured = co_await handshake(); !secured) co_return failed(secured.error());
            step = session_.tls_established();
            continue;
        }
        if (step.kind != Step::Kind::receive) co_return step;
        if (!step.bytes.empty()) {
            if (auto written = co_await write(step.bytes); !written) co_return failed(written.error());
        }
        auto reply = co_await read_reply();
        if (!reply) co_return failed(reply.error());
        step = session_.on_reply(*reply);
    }
}

asio::awaitable<Result<void>> Connection::write(const std::string& bytes) {
    auto written = encrypted_
                       ? co_await with_timeout(asio::async_write(stream_, asio::buffer(bytes), use_nothrow),
                                               options_.timeout)
                       : co_await with_timeout(asio::async_write(stream_.next_layer(), asio::buffer(bytes), use_nothrow),
                                               options_.timeout);
    if (!written) co_return retryable("timed out writing to " + options_.host);
    if (auto [ec, n] = *written; ec) co_return retryable("connection to " + options_.host + " lost: " + describe(ec));
    co_return Result<void>();
}

asio::awaitable<Result<Reply>> Connection::read_reply() {
    std::array<char, 4096> chunk;
    for (;;) {
        if (auto reply = parser_.next()) co_return std::move(*reply);
        auto read = encrypted_
                        ? co_await with_timeout(stream_.async_read_some(asio::buffer(chunk), use_nothrow), options_.timeout)
                        : co_await with_timeout(stream_.next_layer().async_read_some(asio::buffer(chunk), use_nothrow),
                                                options_.timeout);
        if (!read) co_return retryable("timed out after " + std::to_string(options_.timeout.count()) +
                                       " ms waiting for " + options_.host);
        auto [ec, n] = *read;
        if (ec) co_return retryable("connection to " + options_.host + " lost: " + describe(ec));
        if (!parser_.feed(std::string_view(chunk.data(), n)))
            co_return retryable("malformed reply from " + options_.host + ": " + parser_.error());
    }
}

asio::awaitable<Result<void>> Connection::send(const Envelope& envelope) {
    if (!usable_) co_return retryable("the connection is no longer usable");
    Step step = co_await drive(session_.send_message(envelope));
    if (step.kind == Step::Kind::delivered) co_return Result<void>();
    const bool session_usable = step.kind == Step::Kind::failed && step.session_usable;
    Failure failure = step.kind == Step::Kind::failed ? std::move(step.failure)
                                                      : retryable("unexpected state after a message");
    if (session_usable && usable_) {
        const Step reset = co_await drive(session_.reset());
        if (reset.kind != Step::Kind::ready) usable_ = false;
    }
    co_return failure;
}

asio::awaitable<bool> Connection::alive() {
    if (!usable_) co_return false;
    const Step step = co_await drive(session_.noop());
    co_return step.kind == Step::Kind::ready;
}

asio::awaitable<void> Connection::quit() {
    if (usable_) co_await drive(session_.quit());
    usable_ = false;
    boost::system::error_code ignored;
    stream_.next_layer().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.next_layer().close(ignored);
}

}  // namespace jobq::net::smtp
