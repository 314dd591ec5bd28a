#include "net/http_server.hpp"

#include "common/asio_tokens.hpp"
#include "net/connection_deadlines.hpp"
#include "net/request_parser.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/status.hpp>

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <array>
#include <cstdio>
#include <string>

namespace jobq::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

HttpResponse protocol_error(unsigned status, std::string_view code, std::string_view message) {
    HttpResponse r;
    r.status = status;
    r.body = R"({"error":{"code":")" + std::string(code) + R"(","message":")" + std::string(message) + R"("}})";
    return r;
}

// Beast's parse errors mapped onto the statuses a client can act on.
HttpResponse response_for_read_error(const beast::error_code& ec) {
    if (ec == http::error::body_limit) return protocol_error(413, "body_too_large", "request body is too large");
    if (ec == http::error::header_limit)
        return protocol_error(431, "headers_too_large", "request headers are too large");
    return protocol_error(400, "bad_request", "malformed HTTP request");
}

// A malformed or oversized request, as opposed to the peer going away or a timeout.
bool is_parse_error(const beast::error_code& ec) {
    static const auto& http_category = beast::error_code(http::error::end_of_stream).category();
    return ec.category() == http_category && ec != http::error::end_of_stream &&
           ec != http::error::partial_message;
}

// "HTTP/1.1 200 OK\r\nServer: jobq\r\n"
void append_status_line(std::string& out, const HttpResponse& r, unsigned version) {
    out += version == 10 ? "HTTP/1.0 " : "HTTP/1.1 ";
    out += std::to_string(r.status);
    out += ' ';
    out += http::obsolete_reason(static_cast<http::status>(r.status));
    out += "\r\nServer: jobq\r\n";
}

// The response's own headers, each ended by CRLF.
void append_headers(std::string& out, const HttpResponse& r) {
    for (const auto& [name, value] : r.headers) {
        out += name;
        out += ": ";
        out += value;
        out += "\r\n";
    }
}

// The response as it goes on the wire: status line, headers, body, in one buffer and one
// write. Beast's serializer walks a chain of buffer views and allocates a node per header
// field; for the small responses of this API, formatting by hand costs a fraction of that.
// Measured with the other allocation cuts of its round: CPU per POST /jobs 93-100 us ->
// 60-70 us, per GET /healthz 25-29 us -> 16 us (bench/README.md, bench/enqueue, "What
// changed").
std::string wire_format(HttpResponse&& r, unsigned version, bool keep_alive) {
    const bool has_body = r.status != 204 && r.status != 304 && r.status >= 200;
    std::string out;
    out.reserve(160 + r.body.size());
    append_status_line(out, r, version);
    if (has_body) {
        out += "Content-Type: ";
        out += r.content_type;
        out += "\r\nContent-Length: ";
        out += std::to_string(r.body.size());
        out += "\r\n";
    }
    append_headers(out, r);
    // HTTP/1.1 keeps the connection by default, HTTP/1.0 closes it by default.
    if (!keep_alive && version >= 11) out += "Connection: close\r\n";
    if (keep_alive && version < 11) out += "Connection: keep-alive\r\n";
    out += "\r\n";
    if (has_body) out += r.body;
    return out;
}

// The head of a response that streams (HttpResponse::stream): no length, since the body
// ends when the connection does.
std::string stream_head(const HttpResponse& r, unsigned version) {
    std::string out;
    append_status_line(out, r, version);
    out += "Content-Type: ";
    out += r.content_type;
    out += "\r\n";
    append_headers(out, r);
    if (version >= 11) out += "Connection: close\r\n";
    out += "\r\n";
    return out;
}

}  // namespace

// How long a streamed response's write may wait for its client (see stream()).
constexpr std::chrono::milliseconds stream_write_timeout{3'000};

struct HttpServer::State : std::enable_shared_from_this<State> {
    State(asio::io_context& io, HttpServerOptions opts, RequestHandler h)
        : io(io), options(std::move(opts)), handler(std::move(h)), acceptor(asio::make_strand(io)) {
        const tcp::endpoint endpoint(asio::ip::make_address(options.bind_address), options.port);
        acceptor.open(endpoint.protocol());
        acceptor.set_option(asio::socket_base::reuse_address(true));
        acceptor.bind(endpoint);
        acceptor.listen(asio::socket_base::max_listen_connections);
    }

    asio::awaitable<void> accept_loop();
    asio::awaitable<void> session(std::shared_ptr<Connection> connection);
    asio::awaitable<beast::error_code> read_request(Connection& connection, beast::flat_buffer& buffer,
                                                    RequestParser& parser);
    static void refuse_connection(tcp::socket socket);
    asio::awaitable<bool> write(Connection& connection, const std::string& bytes,
                                std::chrono::milliseconds deadline);
    asio::awaitable<void> stream(Connection& connection, HttpResponse response, unsigned version);
    asio::awaitable<void> lingering_close(Connection& connection);
    asio::awaitable<void> sweep_deadlines();
    std::chrono::milliseconds sweep_interval() const;

    asio::io_context& io;
    HttpServerOptions options;
    RequestHandler handler;
    tcp::acceptor acceptor;
    ConnectionDeadlines deadlines;
    std::atomic<bool> stopping{false};
    std::atomic<std::size_t> active{0};
    std::atomic<std::size_t> streams{0};
};

asio::awaitable<void> HttpServer::State::accept_loop() {
    auto self = shared_from_this();
    while (!stopping) {
        auto [ec, socket] = co_await acceptor.async_accept(asio::make_strand(io), use_nothrow);
        if (ec) {
            if (ec == asio::error::operation_aborted || !acceptor.is_open()) break;
            // Out of file descriptors (or a client gone mid-handshake): pause rather than
            // spin on an accept that fails at once.
            asio::steady_timer pause(acceptor.get_executor(), std::chrono::milliseconds(50));
            co_await pause.async_wait(use_nothrow);
            continue;
        }
        if (deadlines.size() >= options.max_connections) {
            refuse_connection(std::move(socket));
            continue;
        }
        boost::system::error_code ignored;
        socket.set_option(tcp::no_delay(true), ignored);
        // Writes are tried at once and only wait when the socket buffer is full.
        socket.non_blocking(true, ignored);
        // The socket was accepted onto its own strand; the session runs there.
        auto executor = socket.get_executor();
        asio::co_spawn(executor, session(std::make_shared<Connection>(std::move(socket))), [](std::exception_ptr e) {
            if (e) std::fprintf(stderr, "level=error msg=\"connection ended by an exception\"\n");
        });
    }
}

// Over --max-connections: a short 503 written without waiting, then closed.
void HttpServer::State::refuse_connection(tcp::socket socket) {
    static const std::string refusal = wire_format(
        protocol_error(503, "too_many_connections", "the server has too many open connections; retry shortly"), 11,
        false);
    boost::system::error_code ignored;
    socket.non_blocking(true, ignored);
    socket.write_some(asio::buffer(refusal), ignored);
    socket.shutdown(tcp::socket::shutdown_both, ignored);
    socket.close(ignored);
}

// A response almost always fits the socket buffer: write it now, and go through the event
// loop (with a deadline) only for what did not fit.
asio::awaitable<bool> HttpServer::State::write(Connection& connection, const std::string& bytes,
                                               std::chrono::milliseconds deadline) {
    boost::system::error_code ec;
    const std::size_t written = connection.socket().write_some(asio::buffer(bytes), ec);
    if (!ec && written == bytes.size()) co_return true;
    if (ec && ec != asio::error::would_block && ec != asio::error::try_again) co_return false;
    connection.expires_after(deadline);
    auto [error, n] = co_await asio::async_write(connection.socket(), asio::buffer(bytes) + written, use_nothrow);
    connection.expires_never();
    co_return !error;
}

// Reads the next request into `parser`. The parser is fed from the buffer directly and
// the socket is read only when it needs more, so a request that arrives in one segment
// costs one read; each wait has the deadline of its phase: idle until the request's first
// byte, then header, then request (the body).
asio::awaitable<beast::error_code> HttpServer::State::read_request(Connection& connection, beast::flat_buffer& buffer,
                                                                   RequestParser& parser) {
    constexpr std::size_t read_size = 16 << 10;
    enum class Phase { none, idle, header, body };
    Phase deadline_for = Phase::none;  // each phase's deadline is set once, when it begins
    parser.eager(true);  // parse the body in the same pass as the header when it is there
    for (;;) {
        while (buffer.size() > 0) {
            beast::error_code ec;
            const std::size_t used = parser.put(buffer.data(), ec);
            buffer.consume(used);
            if (ec && ec != http::error::need_more) co_return ec;  // malformed, or over a limit
            if (parser.is_done()) {
                connection.expires_never();  // the handler's own timeouts apply from here
                co_return beast::error_code{};
            }
            if (used == 0) break;  // an incomplete header: it needs more bytes
        }
        const bool idle = !parser.got_some() && buffer.size() == 0;
        const Phase phase = idle ? Phase::idle : parser.is_header_done() ? Phase::body : Phase::header;
        if (phase != deadline_for) {
            deadline_for = phase;
            connection.expires_after(phase == Phase::idle     ? options.idle_timeout
                                     : phase == Phase::header ? options.header_timeout
                                                              : options.request_timeout);
        }
        auto [ec, n] = co_await connection.socket().async_read_some(buffer.prepare(read_size), use_nothrow);
        if (ec == asio::error::eof) ec = idle ? http::error::end_of_stream : http::error::partial_message;
        if (ec) co_return ec;
        buffer.commit(n);
    }
}

namespace {

// The client closed its end: a peek at the socket finds the end of the stream (or an
// error) rather than nothing yet or a pipelined request. Never blocks, takes no byte.
bool peer_gone(void* opaque) {
    auto& connection = *static_cast<Connection*>(opaque);
    char byte = 0;
    const auto got = ::recv(connection.socket().native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    if (got > 0) return false;
    if (got == 0) return true;
    return errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
}

// The request as the handler gets it, able to tell whether its client is still there.
// Not built in the coroutine body: a plain function keeps the temporaries out of it.
HttpRequest watched(HttpRequest request, Connection& connection) {
    request.peer_gone = &peer_gone;
    request.connection = &connection;
    return request;
}

}  // namespace

asio::awaitable<void> HttpServer::State::session(std::shared_ptr<Connection> connection) {
    auto self = shared_from_this();
    const auto registration = deadlines.add(connection);
    beast::flat_buffer buffer;
    for (;;) {
        RequestParser parser;
        parser.body_limit(options.max_body_bytes);
        parser.header_limit(static_cast<std::uint32_t>(options.max_header_bytes));
        const auto ec = co_await read_request(*connection, buffer, parser);
        if (ec) {
            if (is_parse_error(ec)) {
                const auto bytes = wire_format(response_for_read_error(ec), 11, false);
                if (co_await write(*connection, bytes, options.request_timeout)) co_await lingering_close(*connection);
            }
            break;  // end of stream, timeout, reset
        }

        const unsigned version = parser.version();
        const bool keep_alive_requested = parser.keep_alive();
        ++active;
        HttpResponse response;
        try {
            response = co_await handler(watched(parser.release(), *connection));
        } catch (const std::exception& e) {
            std::fprintf(stderr, "level=error msg=\"request handler threw\" error=\"%s\"\n", e.what());
            response = protocol_error(500, "internal", "internal error");
        }
        // A stream is counted before the request stops being: shutdown never sees neither.
        if (response.stream) ++streams;
        --active;
        if (response.stream) {
            co_await stream(*connection, std::move(response), version);
            break;
        }
        const bool keep_alive = keep_alive_requested && !stopping;
        const auto bytes = wire_format(std::move(response), version, keep_alive);
        if (!co_await write(*connection, bytes, options.request_timeout) || !keep_alive) break;
    }
    boost::system::error_code ignored;
    connection->socket().shutdown(tcp::socket::shutdown_send, ignored);
}

// A streamed response is counted apart from active requests (active_streams(), counted by
// the session): once the server stops accepting, it ends at its next string, and shutdown
// waits for that. Its writes have a short deadline, so that a client that stopped reading
// (a frozen tab) holds neither the stream nor a shutdown for long; its page reconnects.
asio::awaitable<void> HttpServer::State::stream(Connection& connection, HttpResponse response, unsigned version) {
    struct Uncount {
        std::atomic<std::size_t>& streams;
        ~Uncount() { --streams; }
    } uncount{streams};
    const auto deadline = std::min(options.request_timeout, stream_write_timeout);
    if (!co_await write(connection, stream_head(response, version), deadline)) co_return;
    while (!stopping && !peer_gone(&connection)) {
        std::optional<std::string> next;
        try {
            next = co_await response.stream();
        } catch (const std::exception& e) {
            std::fprintf(stderr, "level=error msg=\"response stream threw\" error=\"%s\"\n", e.what());
            break;
        }
        if (!next || stopping || peer_gone(&connection)) break;
        if (!co_await write(connection, *next, deadline)) break;
    }
}

// After refusing a request whose body is still arriving: closing at once would reset the
// connection and the client could lose the error reply. Stop sending, then discard what
// arrives for a bounded time and amount (the body is never read in full).
asio::awaitable<void> HttpServer::State::lingering_close(Connection& connection) {
    constexpr std::size_t max_discard = 4 << 20;
    boost::system::error_code ignored;
    connection.socket().shutdown(tcp::socket::shutdown_send, ignored);
    connection.expires_after(std::chrono::seconds(2));
    std::array<char, 16384> sink;
    for (std::size_t discarded = 0; discarded < max_discard;) {
        auto [ec, n] = co_await connection.socket().async_read_some(asio::buffer(sink), use_nothrow);
        if (ec) break;
        discarded += n;
    }
}

asio::awaitable<void> HttpServer::State::sweep_deadlines() {
    auto self = shared_from_this();
    co_await deadlines.sweep_every(sweep_interval());
}

// Deadlines are enforced to within a quarter of the shortest timeout, and at most a second
// late.
std::chrono::milliseconds HttpServer::State::sweep_interval() const {
    const auto shortest = std::min({options.idle_timeout, options.header_timeout, options.request_timeout,
                                    std::chrono::milliseconds(2'000)});
    return std::clamp(shortest / 4, std::chrono::milliseconds(10), std::chrono::milliseconds(1'000));
}

HttpServer::HttpServer(asio::io_context& io, HttpServerOptions options, RequestHandler handler)
    : state_(std::make_shared<State>(io, std::move(options), std::move(handler))) {}

HttpServer::~HttpServer() = default;

std::uint16_t HttpServer::port() const { return state_->acceptor.local_endpoint().port(); }

void HttpServer::start() {
    asio::co_spawn(state_->acceptor.get_executor(), state_->accept_loop(), [](std::exception_ptr e) {
        if (e) std::fprintf(stderr, "level=error msg=\"accept loop ended by an exception\"\n");
    });
    asio::co_spawn(asio::make_strand(state_->io), state_->sweep_deadlines(), [](std::exception_ptr e) {
        if (e) std::fprintf(stderr, "level=error msg=\"deadline sweeper ended by an exception\"\n");
    });
}

void HttpServer::stop_accepting() {
    state_->stopping = true;
    asio::post(state_->acceptor.get_executor(), [state = state_] {
        beast::error_code ignored;
        state->acceptor.close(ignored);
    });
}

std::size_t HttpServer::active_requests() const { return state_->active.load(); }

std::size_t HttpServer::active_streams() const { return state_->streams.load(); }

}  // namespace jobq::net
