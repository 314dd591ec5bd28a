#include "app/cli/api_client.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/json/parse.hpp>
#include <boost/url/parse.hpp>

#include <charconv>
#include <exception>

namespace jobq::app::cli {

namespace asio = boost::asio;

namespace {

// Large enough for any page or lease answer the server sends (a lease answer carries at
// most 8 MiB of payloads).
constexpr std::size_t max_reply_bytes = 64u << 20;

net::http::ClientOptions client_options(std::chrono::milliseconds timeout) {
    net::http::ClientOptions options;
    options.timeout = timeout;
    options.max_body_bytes = max_reply_bytes;
    options.body_prefix_bytes = max_reply_bytes;
    options.user_agent = "jobq-cli";
    return options;
}

}  // namespace

std::variant<Endpoint, std::string> parse_endpoint(std::string_view url) {
    const auto parsed = boost::urls::parse_uri(url);
    const std::string problem = "the server URL '" + std::string(url) + "' ";
    if (!parsed) return problem + "is not a URL such as http://127.0.0.1:8080";
    Endpoint endpoint;
    const auto scheme = parsed->scheme();
    if (scheme != "http" && scheme != "https") return problem + "must start with http:// or https://";
    endpoint.origin.https = scheme == "https";
    if (parsed->host_type() == boost::urls::host_type::ipv6) {
        endpoint.origin.host = parsed->host_ipv6_address().to_string();
    } else {
        endpoint.origin.host = parsed->host_address();
    }
    if (endpoint.origin.host.empty()) return problem + "names no host";
    endpoint.origin.port = endpoint.origin.https ? 443 : 80;
    if (parsed->has_port()) {
        const auto port = parsed->port();
        unsigned value = 0;
        const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
        if (ec != std::errc() || end != port.data() + port.size() || value == 0 || value > 65535)
            return problem + "has an invalid port";
        endpoint.origin.port = static_cast<std::uint16_t>(value);
    }
    if (parsed->has_query() || parsed->has_fragment() || parsed->has_userinfo())
        return problem + "may hold only a scheme, a host, a port and a path";
    endpoint.base_path = parsed->encoded_path();
    while (endpoint.base_path.ends_with('/')) endpoint.base_path.pop_back();
    return endpoint;
}

std::string Reply::error_text() const {
    const std::string http = "HTTP " + std::to_string(status);
    boost::system::error_code ec;
    const auto parsed = boost::json::parse(body, ec);
    if (!ec && parsed.is_object()) {
        const auto* error = parsed.as_object().if_contains("error");
        if (error && error->is_object()) {
            const auto* message = error->as_object().if_contains("message");
            const auto* code = error->as_object().if_contains("code");
            if (message && message->is_string() && code && code->is_string())
                return std::string(message->as_string()) + " (" + std::string(code->as_string()) + ", " + http + ")";
        }
    }
    return http + (body.empty() ? "" : ": " + body.substr(0, 200));
}

ApiClient::ApiClient(asio::any_io_executor executor, Endpoint endpoint, std::chrono::milliseconds timeout)
    : endpoint_(std::move(endpoint)), http_(std::move(executor), client_options(timeout)) {}

asio::awaitable<CallResult> ApiClient::call(std::string method, std::string target, std::string body) {
    net::http::Request request;
    request.origin = endpoint_.origin;
    request.method = std::move(method);
    request.target = endpoint_.base_path + target;
    request.headers.emplace_back("Accept", "application/json");
    if (!body.empty()) request.headers.emplace_back("Content-Type", "application/json");
    if (!endpoint_.token.empty()) request.headers.emplace_back("Authorization", "Bearer " + endpoint_.token);
    request.body = std::move(body);
    auto response = co_await http_.send(request);
    if (!response) co_return response.error();
    co_return Reply{response->status, std::move(response->body_prefix)};
}

std::string ApiClient::endpoint_text() const {
    const auto& origin = endpoint_.origin;
    const bool ipv6 = origin.host.find(':') != std::string::npos;
    return std::string(origin.https ? "https://" : "http://") + (ipv6 ? "[" + origin.host + "]" : origin.host) + ":" +
           std::to_string(origin.port) + endpoint_.base_path;
}

BlockingApiClient::BlockingApiClient(Endpoint endpoint, std::chrono::milliseconds timeout)
    : client_(std::make_unique<ApiClient>(io_.get_executor(), std::move(endpoint), timeout)) {}

BlockingApiClient::~BlockingApiClient() {
    client_.reset();  // before the io_context its connections live on
}

CallResult BlockingApiClient::call(std::string method, std::string target, std::string body) {
    std::optional<CallResult> result;
    std::exception_ptr failure;
    io_.restart();
    asio::co_spawn(io_, client_->call(std::move(method), std::move(target), std::move(body)),
                   [&](std::exception_ptr error, CallResult value) {
                       failure = error;
                       result.emplace(std::move(value));
                       // The client keeps a coroutine closing idle connections; the call is over.
                       io_.stop();
                   });
    io_.run();
    if (failure) std::rethrow_exception(failure);
    return std::move(*result);
}

}  // namespace jobq::app::cli
