#include "handlers/webhook.hpp"

#include "handlers/webhook_outcome.hpp"
#include "handlers/webhook_request.hpp"

#include <boost/json/parse.hpp>

namespace jobq::handlers {

namespace json = boost::json;

namespace {

net::http::Request request_for(Webhook hook, const core::Job& job) {
    net::http::Request request;
    request.origin = {hook.url.https, std::move(hook.url.host), hook.url.port};
    request.method = std::move(hook.method);
    request.target = std::move(hook.url.target);
    request.headers = std::move(hook.headers);
    request.headers.emplace_back("Content-Type", "application/json");
    request.headers.emplace_back("X-Jobq-Job-Id", std::to_string(job.id));
    request.headers.emplace_back("X-Jobq-Attempt", std::to_string(job.attempts_since_retry()));
    request.body = std::move(hook.body);
    return request;
}

}  // namespace

WebhookHandler::WebhookHandler(WebhookSettings settings, boost::asio::any_io_executor executor, core::Clock clock)
    : settings_(std::move(settings)), clock_(std::move(clock)), client_(std::move(executor), settings_.client) {}

std::optional<std::string> WebhookHandler::validate(const json::value& payload) const {
    const auto parsed = parse_webhook(payload);
    if (!parsed) return parsed.error().message;
    return std::nullopt;
}

boost::asio::awaitable<core::Outcome> WebhookHandler::run(const core::Job& job, core::JobContext&) {
    json::error_code ec;
    const auto payload = json::parse(job.payload, ec);
    if (ec) co_return core::Outcome::permanent("stored payload is not JSON");
    auto parsed = parse_webhook(payload);
    if (!parsed) co_return core::Outcome::permanent(parsed.error().message);

    auto request = request_for(std::move(*parsed), job);
    if (!settings_.secret.empty())
        request.headers.emplace_back("X-Jobq-Signature", webhook_signature(settings_.secret, clock_() / 1000, request.body));
    const auto result = co_await client_.send(request);
    co_return webhook_outcome(result, clock_());
}

}  // namespace jobq::handlers
