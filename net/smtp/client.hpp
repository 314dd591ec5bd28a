#pragma once
// An SMTP connection over Asio: the I/O around smtp::Session. It connects, greets,
// upgrades to TLS (STARTTLS, or TLS from the start), authenticates and sends messages;
// every wait on the server has a timeout. Failures come back as values, net::Result
// (retryable or permanent, with the server's reply), never as exceptions. Not
// thread-safe: one coroutine uses a connection at a time.

#include "net/failure.hpp"
#include "net/resolver.hpp"
#include "net/smtp/session.hpp"
#include "net/tls_context.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

namespace jobq::net::smtp {

struct ServerOptions {
    std::string host;
    std::uint16_t port = 587;
    TlsMode tls = TlsMode::starttls;
    std::optional<Credentials> credentials;
    std::string ca_file;  // PEM certificates to trust; empty: the system's store
    std::string client_name = "localhost";
    std::chrono::milliseconds timeout{30'000};  // connect, handshake, and each reply
};

class Connection {
public:
    using Opened = Result<std::unique_ptr<Connection>>;

    // `tls` must outlive the connection; `resolver` the open() call.
    static boost::asio::awaitable<Opened> open(boost::asio::any_io_executor executor, ServerOptions options,
                                               boost::asio::ssl::context& tls, Resolver& resolver);

    // A value once the server accepted the message. After a failure that leaves the
    // session usable, RSET has been sent and the connection is ready for the next one.
    boost::asio::awaitable<Result<void>> send(const Envelope& envelope);

    // NOOP: whether a pooled connection still works.
    boost::asio::awaitable<bool> alive();

    // QUIT, best effort, then close.
    boost::asio::awaitable<void> quit();

    bool usable() const { return usable_; }
    std::uint64_t messages_sent() const { return session_.messages_sent(); }

    // Something to keep for as long as the connection lives (a pool's place): released
    // when the connection is destroyed, whoever destroys it.
    void hold(std::shared_ptr<void> token) { held_ = std::move(token); }

    Connection(boost::asio::any_io_executor executor, ServerOptions options, boost::asio::ssl::context& tls);

private:
    using Stream = boost::asio::ssl::stream<boost::asio::ip::tcp::socket>;

    boost::asio::awaitable<Result<void>> connect(Resolver& resolver);
    boost::asio::awaitable<Result<void>> handshake();
    // Writes and reads until the session wants something other than a reply.
    boost::asio::awaitable<Step> drive(Step step);
    boost::asio::awaitable<Result<Reply>> read_reply();
    boost::asio::awaitable<Result<void>> write(const std::string& bytes);
    // A failed step; the connection stays usable only if the session does.
    Step failed(Failure failure, bool session_usable = false);

    std::shared_ptr<void> held_;  // first: released after the stream is gone
    ServerOptions options_;
    Stream stream_;
    bool encrypted_ = false;
    bool usable_ = true;
    ReplyParser parser_;
    Session session_;
};

}  // namespace jobq::net::smtp
