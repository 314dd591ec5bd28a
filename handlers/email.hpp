#pragma once
// The `email` job type: the payload of handlers/email_message.hpp, delivered over SMTP
// through a pool of connections (net/smtp). A 2xx is success; a 5xx is a permanent
// failure (the server's reply in last_error); 4xx replies, timeouts, connection and TLS
// errors are retryable. Without SMTP settings the server still runs and email jobs are
// retried with a last_error that says what to configure.

#include "core/handler.hpp"
#include "net/smtp/pool.hpp"

#include <memory>
#include <optional>
#include <string>

namespace jobq::handlers {

struct EmailSettings {
    net::smtp::ServerOptions server;
    net::smtp::PoolOptions pool;
    std::string from;  // the From header and the envelope sender
};

class EmailHandler final : public core::Handler {
public:
    // nullopt: SMTP is not configured. The pool (and its TLS context, loading the CA file)
    // is made now, on start-up, not on the event loop at the first message; its own work
    // runs on `executor`. Throws when the CA file cannot be loaded.
    EmailHandler(std::optional<EmailSettings> settings, boost::asio::any_io_executor executor);

    std::string_view type() const override { return "email"; }
    std::optional<std::string> validate(const boost::json::value& payload) const override;
    boost::asio::awaitable<core::Outcome> run(const core::Job& job, core::JobContext& context) override;

private:
    std::optional<EmailSettings> settings_;
    std::unique_ptr<net::smtp::Pool> pool_;  // null when SMTP is not configured
};

// "<jobq.17.1795841459123@example.com>": the same for every attempt of one job, so a
// message delivered twice (at-least-once) can be recognised as one by the recipient.
std::string message_id(const core::Job& job, const std::string& from);

}  // namespace jobq::handlers
