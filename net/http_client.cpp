#include "net/http_client.hpp"

#include "common/asio_tokens.hpp"
#include "net/tls_context.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include <sys/socket.h>

#include <array>
#include <cerrno>
#include <mutex>
#include <optional>
#include <vector>

namespace jobq::net::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using clock = std::chrono::steady_clock;
using namespace asio::experimental::awaitable_operators;

namespace {

// Interim (1xx) responses skipped before the final one, at most.
constexpr int max_interim_responses = 8;

std::string text_of(const Origin& origin) {
    const bool v6 = origin.host.find(':') != std::string::npos;
    std::string text = v6 ? "[" + origin.host + "]" : origin.host;
    text += ':';
    text += std::to_string(origin.port);
    return text;
}

std::string key_of(const Origin& origin) { return (origin.https ? "https://" : "http://") + text_of(origin); }

// The Host header: the port only when it is not the scheme's default.
std::string host_header(const Origin& origin) {
    if (origin.port == (origin.https ? 443 : 80))
        return origin.host.find(':') != std::string::npos ? "[" + origin.host + "]" : origin.host;
    return text_of(origin);
}

// A pooled connection is worth reusing only if the server has neither closed it nor sent
// anything unasked (a close_notify, a 408): either makes the socket readable.
bool quiet_and_open(tcp::socket& socket) {
    if (!socket.is_open()) return false;
    char byte;
    const auto n = ::recv(socket.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

Failure retryable(std::string message) { return Failure{false, std::move(message)}; }

std::string describe(const boost::system::error_code& ec) {
    if (ec == beast::error::timeout) return "timed out";
    return ec.message();  // OpenSSL's reason ("certificate verify failed") is what an operator needs
}

}  // namespace

class Client::Connection {
public:
    Connection(asio::any_io_executor executor, ssl::context& tls, bool https)
        : stream_(std::move(executor), tls), https_(https) {}

    beast::ssl_stream<beast::tcp_stream>& tls() { return stream_; }
    beast::tcp_stream& tcp() { return stream_.next_layer(); }
    bool quiet_and_open() { return http::quiet_and_open(tcp().socket()); }

    // The request on this connection, the response read by `deadline`.
    asio::awaitable<Result<Response>> exchange(bhttp::request<bhttp::string_body>& message, clock::time_point deadline,
                                               const ClientOptions& options);

    bool reusable() const { return reusable_; }
    // Whether any byte of a response arrived: without one, a failed exchange on a reused
    // connection may be a connection the server had closed, and is worth one more try.
    bool response_started() const { return response_started_; }

private:
    template <class Stream>
    asio::awaitable<Result<Response>> exchange_over(Stream& stream, bhttp::request<bhttp::string_body>& message,
                                                    const ClientOptions& options);
    template <class Stream>
    asio::awaitable<Result<void>> read_body(Stream& stream, bhttp::response_parser<bhttp::buffer_body>& parser,
                                            Response& response, const ClientOptions& options);

    beast::ssl_stream<beast::tcp_stream> stream_;
    beast::flat_buffer buffer_;
    bool https_;
    bool reusable_ = false;
    bool response_started_ = false;
};

asio::awaitable<Result<Response>> Client::Connection::exchange(bhttp::request<bhttp::string_body>& message,
                                                               clock::time_point deadline, const ClientOptions& options) {
    reusable_ = false;
    response_started_ = false;
    tcp().expires_at(deadline);
    // Not a conditional expression: GCC 12 miscompiles co_await in both of its arms.
    Result<Response> result;
    if (https_) result = co_await exchange_over(stream_, message, options);
    else result = co_await exchange_over(tcp(), message, options);
    tcp().expires_never();
    co_return result;
}

template <class Stream>
asio::awaitable<Result<Response>> Client::Connection::exchange_over(Stream& stream,
                                                                    bhttp::request<bhttp::string_body>& message,
                                                                    const ClientOptions& options) {
    if (auto [ec, n] = co_await bhttp::async_write(stream, message, use_nothrow); ec)
        co_return retryable("sending the request: " + describe(ec));

    std::optional<bhttp::response_parser<bhttp::buffer_body>> parser;
    for (int interim = 0;; ++interim) {
        parser.emplace();
        parser->body_limit(boost::none);  // the cap is applied while reading, see read_body
        auto [ec, n] = co_await bhttp::async_read_header(stream, buffer_, *parser, use_nothrow);
        response_started_ = response_started_ || parser->got_some();
        if (ec) co_return retryable("reading the response: " + describe(ec));
        const unsigned status = parser->get().result_int();
        if (status >= 200 || status == 101) break;
        if (interim == max_interim_responses) co_return retryable("too many interim (1xx) responses");
        // An interim response has no body; the final one follows on the same connection.
    }
    const auto& header = parser->get();
    Response response;
    response.status = header.result_int();
    response.reason = std::string(header.reason());
    if (const auto it = header.find(bhttp::field::retry_after); it != header.end())
        response.retry_after = std::string(it->value());
    // The status is what the caller classifies: a body cut short still leaves an answer.
    const auto body = co_await read_body(stream, *parser, response, options);
    reusable_ = body && parser->is_done() && parser->keep_alive() && response.status != 101;
    co_return response;
}

template <class Stream>
asio::awaitable<Result<void>> Client::Connection::read_body(Stream& stream,
                                                            bhttp::response_parser<bhttp::buffer_body>& parser,
                                                            Response& response, const ClientOptions& options) {
    std::array<char, 8192> chunk;
    std::size_t total = 0;
    while (!parser.is_done()) {
        parser.get().body().data = chunk.data();
        parser.get().body().size = chunk.size();
        auto [ec, n] = co_await bhttp::async_read(stream, buffer_, parser, use_nothrow);
        if (ec == bhttp::error::need_buffer) ec = {};
        if (ec) co_return retryable("reading the response body: " + describe(ec));
        const std::size_t got = chunk.size() - parser.get().body().size;
        if (response.body_prefix.size() < options.body_prefix_bytes)
            response.body_prefix.append(chunk.data(), std::min(got, options.body_prefix_bytes - response.body_prefix.size()));
        total += got;
        // Past the cap the rest is not worth reading: the connection closes instead.
        if (total > options.max_body_bytes) co_return retryable("response body over the limit");
    }
    co_return Result<void>();
}

struct Client::IdlePool {
    struct Idle {
        std::unique_ptr<Connection> connection;
        clock::time_point since;
    };

    IdlePool(asio::any_io_executor executor, clock::duration timeout)
        : strand(asio::make_strand(executor)), timer(strand), timeout(timeout) {}

    // Closes idle connections as their idle timeout passes, while there are any.
    static asio::awaitable<void> retire(std::shared_ptr<IdlePool> pool) {
        for (;;) {
            std::vector<Idle> expired;  // closed outside the mutex
            clock::time_point next = clock::time_point::max();
            {
                const std::lock_guard lock(pool->mutex);
                const auto now = clock::now();
                for (auto it = pool->idle.begin(); it != pool->idle.end();) {
                    auto& queue = it->second;
                    while (!queue.empty() && now - queue.front().since >= pool->timeout) {
                        expired.push_back(std::move(queue.front()));
                        queue.pop_front();
                    }
                    if (!queue.empty()) next = std::min(next, queue.front().since + pool->timeout);
                    it = queue.empty() ? pool->idle.erase(it) : std::next(it);
                }
                if (pool->closed || pool->idle.empty()) {
                    pool->retiring = false;
                    co_return;
                }
            }
            expired.clear();
            pool->timer.expires_at(next);
            co_await pool->timer.async_wait(use_nothrow);
        }
    }

    asio::strand<asio::any_io_executor> strand;  // the retirer's
    asio::steady_timer timer;                     // on `strand`
    const clock::duration timeout;

    std::mutex mutex;  // guards what follows; never held across an await
    std::map<Key, std::deque<Idle>> idle;  // each deque in release order: the front is the oldest
    bool retiring = false;
    bool closed = false;
};

Client::Client(asio::any_io_executor executor, ClientOptions options)
    : executor_(std::move(executor)),
      options_(std::move(options)),
      tls_(std::make_unique<ssl::context>(make_tls_context(options_.ca_file))),
      resolver_(executor_),
      idle_(std::make_shared<IdlePool>(executor_, options_.idle_timeout)) {}

Client::~Client() {
    std::map<Key, std::deque<IdlePool::Idle>> idle;  // closed outside the mutex
    {
        const std::lock_guard lock(idle_->mutex);
        idle_->closed = true;
        idle.swap(idle_->idle);
    }
    asio::post(idle_->strand, [pool = idle_] { pool->timer.cancel(); });
}

asio::awaitable<Result<Response>> Client::send(const Request& request) {
    const auto deadline = clock::now() + options_.timeout;
    const Key key = key_of(request.origin);

    bhttp::request<bhttp::string_body> message{bhttp::string_to_verb(request.method), request.target, 11};
    message.set(bhttp::field::host, host_header(request.origin));
    message.set(bhttp::field::user_agent, options_.user_agent);
    for (const auto& [name, value] : request.headers) message.insert(name, value);
    message.body() = request.body;
    message.prepare_payload();

    for (int attempt = 0;; ++attempt) {
        auto connection = attempt == 0 ? take_idle(key) : nullptr;
        const bool reused = connection != nullptr;
        Result<Response> result;
        if (!connection) {
            auto opened = co_await open(request.origin, deadline);
            if (opened) connection = std::move(*opened);
            else result = opened.error();
        }
        if (connection) result = co_await connection->exchange(message, deadline, options_);
        const bool stale = reused && result.has_error() && !connection->response_started() && clock::now() < deadline;
        if (connection && connection->reusable()) release(key, std::move(connection));
        // A reused connection that failed before any reply was likely closed by the server
        // while idle: once more on a new one (at-least-once allows the duplicate).
        if (stale) continue;
        if (result) co_return result;
        auto failure = result.error();
        failure.message = request.method + " " + key + ": " + failure.message;
        co_return failure;
    }
}

asio::awaitable<Result<std::unique_ptr<Client::Connection>>> Client::open(const Origin& origin,
                                                                          clock::time_point deadline) {
    // The resolver keeps the deadline itself: a lookup that hangs fails when it passes.
    const auto remaining = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now());
    auto results = co_await resolver_.resolve(origin.host, origin.port, std::max(remaining, std::chrono::milliseconds(0)));
    if (results.error() == asio::error::timed_out) co_return retryable("timed out resolving the host name");
    if (!results) co_return retryable("cannot resolve the host name: " + describe(results.error()));

    // The egress guard looks at the addresses, not the name: a name can resolve anywhere.
    std::vector<tcp::endpoint> allowed;
    std::string denied;
    for (const auto& endpoint : *results) {
        if (in_any(options_.deny, endpoint.address())) denied = endpoint.address().to_string();
        else allowed.push_back(endpoint);
    }
    if (allowed.empty())
        co_return Failure{true, "address " + denied + " of " + origin.host + " is in a denied range (JOBQ_WEBHOOK_DENY)"};

    auto connection = std::make_unique<Connection>(executor_, *tls_, origin.https);
    connection->tcp().expires_at(deadline);
    if (auto [ec, endpoint] = co_await connection->tcp().async_connect(allowed, use_nothrow); ec)
        co_return retryable("cannot connect: " + describe(ec));
    opened_.fetch_add(1, std::memory_order_relaxed);
    boost::system::error_code ignored;
    connection->tcp().socket().set_option(tcp::no_delay(true), ignored);
    if (origin.https) {
        auto& stream = connection->tls();
        if (!expect_server(stream, origin.host)) co_return retryable("cannot set the TLS server name");
        if (auto [ec] = co_await stream.async_handshake(ssl::stream_base::client, use_nothrow); ec)
            co_return retryable("TLS handshake failed: " + describe(ec));
    }
    connection->tcp().expires_never();
    co_return std::move(connection);
}

std::unique_ptr<Client::Connection> Client::take_idle(const Key& key) {
    std::vector<std::unique_ptr<Connection>> stale;  // closed outside the mutex
    const std::lock_guard lock(idle_->mutex);
    const auto it = idle_->idle.find(key);
    if (it == idle_->idle.end()) return nullptr;
    auto& queue = it->second;
    std::unique_ptr<Connection> found;
    // The newest first: it is the likeliest to be still open.
    while (!found && !queue.empty()) {
        auto candidate = std::move(queue.back());
        queue.pop_back();
        if (clock::now() - candidate.since < options_.idle_timeout && candidate.connection->quiet_and_open())
            found = std::move(candidate.connection);
        else
            stale.push_back(std::move(candidate.connection));
    }
    if (queue.empty()) idle_->idle.erase(it);
    return found;
}

void Client::release(const Key& key, std::unique_ptr<Connection> connection) {
    std::unique_ptr<Connection> dropped;  // the oldest, past the cap: closed outside the mutex
    bool start_retiring = false;
    {
        const std::lock_guard lock(idle_->mutex);
        if (idle_->closed) return;
        auto& queue = idle_->idle[key];
        if (queue.size() >= options_.max_idle_per_origin) {
            dropped = std::move(queue.front().connection);
            queue.pop_front();
        }
        queue.push_back({std::move(connection), clock::now()});
        start_retiring = !idle_->retiring;
        idle_->retiring = true;
    }
    // Outside the mutex: co_spawn may run the coroutine at once, and it takes the mutex.
    if (start_retiring) asio::co_spawn(idle_->strand, IdlePool::retire(idle_), asio::detached);
}

}  // namespace jobq::net::http
