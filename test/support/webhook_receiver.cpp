#include "webhook_receiver.hpp"

#include "common/asio_tokens.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include <algorithm>
#include <atomic>
#include <cctype>

namespace jobq::test {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

namespace {

std::string lower(std::string_view text) {
    std::string out(text);
    std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
    return out;
}

}  // namespace

struct WebhookReceiver::State {
    ReceiverScript script;
    bool record = true;
    std::optional<ssl::context> tls;
    mutable std::mutex mutex;
    std::vector<ReceivedRequest> requests;
    std::size_t requests_seen = 0;
    std::size_t connections = 0;

    // Records the request and returns the script's reply to it.
    ReceiverReply on_request(ReceivedRequest request) {
        std::size_t n = 0;
        {
            std::lock_guard lock(mutex);
            n = ++requests_seen;
            if (record) requests.push_back(request);
        }
        return script ? script(request, n) : ReceiverReply{};
    }
};

namespace {

template <class Stream>
asio::awaitable<void> serve(std::shared_ptr<WebhookReceiver::State> state, Stream& stream, std::size_t connection) {
    beast::flat_buffer buffer;
    for (;;) {
        http::request<http::string_body> request;
        auto [ec, n] = co_await http::async_read(stream, buffer, request, use_nothrow);
        if (ec) co_return;
        ReceivedRequest received;
        received.method = std::string(request.method_string());
        received.target = std::string(request.target());
        for (const auto& field : request) received.headers[lower(field.name_string())] = std::string(field.value());
        received.body = std::move(request.body());
        received.connection = connection;
        received.at = std::chrono::steady_clock::now();
        const bool keep_alive = request.keep_alive();
        auto reply = state->on_request(std::move(received));
        if (reply.hang) {
            asio::steady_timer forever(co_await asio::this_coro::executor, asio::steady_timer::time_point::max());
            co_await forever.async_wait(use_nothrow);
            co_return;
        }
        http::response<http::string_body> response{static_cast<http::status>(reply.status), 11};
        for (const auto& [name, value] : reply.headers) response.insert(name, value);
        response.body() = std::move(reply.body);
        response.keep_alive(keep_alive);
        response.prepare_payload();
        auto [write_error, written] = co_await http::async_write(stream, response, use_nothrow);
        if (write_error || !keep_alive || reply.close) co_return;
    }
}

asio::awaitable<void> session(std::shared_ptr<WebhookReceiver::State> state, tcp::socket socket) {
    std::size_t connection = 0;
    {
        std::lock_guard lock(state->mutex);
        connection = ++state->connections;
    }
    socket.set_option(tcp::no_delay(true));
    if (!state->tls) {
        beast::tcp_stream stream(std::move(socket));
        co_await serve(state, stream, connection);
        co_return;
    }
    beast::ssl_stream<beast::tcp_stream> stream(beast::tcp_stream(std::move(socket)), *state->tls);
    if (auto [ec] = co_await stream.async_handshake(ssl::stream_base::server, use_nothrow); ec) co_return;
    co_await serve(state, stream, connection);
}

asio::awaitable<void> accept_loop(std::shared_ptr<WebhookReceiver::State> state,
                                  std::shared_ptr<tcp::acceptor> acceptor) {
    for (;;) {
        auto [ec, socket] = co_await acceptor->async_accept(use_nothrow);
        if (ec) co_return;
        asio::co_spawn(acceptor->get_executor(), session(state, std::move(socket)), asio::detached);
    }
}

}  // namespace

WebhookReceiver::WebhookReceiver(ReceiverScript script, std::optional<TlsFiles> tls, bool record, std::uint16_t port)
    : state_(std::make_shared<State>()) {
    state_->script = std::move(script);
    state_->record = record;
    if (tls) {
        state_->tls.emplace(ssl::context::tls_server);
        state_->tls->use_certificate_chain_file(tls->cert);
        state_->tls->use_private_key_file(tls->key, ssl::context::pem);
    }
    auto acceptor = std::make_shared<tcp::acceptor>(io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    port_ = acceptor->local_endpoint().port();
    asio::co_spawn(io_, accept_loop(state_, acceptor), asio::detached);
    thread_ = std::thread([this] { io_.run(); });
}

WebhookReceiver::~WebhookReceiver() {
    io_.stop();
    thread_.join();
}

std::size_t WebhookReceiver::connections() const {
    std::lock_guard lock(state_->mutex);
    return state_->connections;
}

std::size_t WebhookReceiver::request_count() const {
    std::lock_guard lock(state_->mutex);
    return state_->requests_seen;
}

std::vector<ReceivedRequest> WebhookReceiver::requests() const {
    std::lock_guard lock(state_->mutex);
    return state_->requests;
}

}  // namespace jobq::test
