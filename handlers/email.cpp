#include "handlers/email.hpp"

#include "handlers/email_message.hpp"

#include <boost/json/parse.hpp>

namespace jobq::handlers {

namespace json = boost::json;

namespace {

// The address inside "Name <address>", or the whole text.
std::string address_of(const std::string& from) {
    const auto open = from.rfind('<');
    const auto close = from.rfind('>');
    if (open != std::string::npos && close != std::string::npos && open < close)
        return from.substr(open + 1, close - open - 1);
    return from;
}

}  // namespace

EmailHandler::EmailHandler(std::optional<EmailSettings> settings, boost::asio::any_io_executor executor)
    : settings_(std::move(settings)) {
    if (settings_) pool_ = std::make_unique<net::smtp::Pool>(std::move(executor), settings_->server, settings_->pool);
}

std::optional<std::string> EmailHandler::validate(const json::value& payload) const {
    const auto parsed = parse_email(payload);
    if (!parsed) return parsed.error().message;
    return std::nullopt;
}

std::string message_id(const core::Job& job, const std::string& from) {
    const auto address = address_of(from);
    const auto at = address.rfind('@');
    const std::string domain = at == std::string::npos ? "jobq.invalid" : address.substr(at + 1);
    return "<jobq." + std::to_string(job.id) + "." + std::to_string(job.created_at) + "@" + domain + ">";
}

boost::asio::awaitable<core::Outcome> EmailHandler::run(const core::Job& job, core::JobContext&) {
    if (!settings_)
        co_return core::Outcome::retryable("SMTP is not configured: set SMTP_HOST, SMTP_FROM (and SMTP_USER, "
                                           "SMTP_PASSWORD), then restart jobq");
    json::error_code ec;
    const auto payload = json::parse(job.payload, ec);
    if (ec) co_return core::Outcome::permanent("stored payload is not JSON");
    const auto parsed = parse_email(payload);
    if (!parsed) co_return core::Outcome::permanent(parsed.error().message);
    const auto& email = *parsed;

    const std::string boundary = "=_jobq_" + std::to_string(job.id);
    const Envelope headers{settings_->from, job.created_at, message_id(job, settings_->from)};
    net::smtp::Envelope envelope{address_of(settings_->from), email.to, build_message(email, headers, boundary)};
    envelope.recipients.insert(envelope.recipients.end(), email.cc.begin(), email.cc.end());

    const auto sent = co_await pool_->send(envelope);
    if (sent) co_return core::Outcome::success();
    const auto failure = sent.error();
    if (failure.permanent) co_return core::Outcome::permanent(failure.message);
    co_return core::Outcome::retryable(failure.message);
}

}  // namespace jobq::handlers
