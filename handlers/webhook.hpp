#pragma once
// The `webhook` job type: the payload of handlers/webhook_request.hpp delivered over
// HTTP(S) through a keep-alive client (net/http_client). Each request carries
// Content-Type: application/json, X-Jobq-Job-Id and X-Jobq-Attempt, so a receiver can
// deduplicate (delivery is at least once), and with a secret X-Jobq-Signature. What the
// answer means for the job: handlers/webhook_outcome.hpp.

#include "core/clock.hpp"
#include "core/handler.hpp"
#include "net/http_client.hpp"

#include <memory>
#include <string>

namespace jobq::handlers {

struct WebhookSettings {
    net::http::ClientOptions client;
    std::string secret;  // empty: requests are not signed
};

class WebhookHandler final : public core::Handler {
public:
    // The client (and its TLS context, loading the CA file) is made now, on start-up; its
    // own work runs on `executor`. Throws when the CA file cannot be loaded.
    WebhookHandler(WebhookSettings settings, boost::asio::any_io_executor executor,
                   core::Clock clock = core::system_clock());

    std::string_view type() const override { return "webhook"; }
    std::optional<std::string> validate(const boost::json::value& payload) const override;
    boost::asio::awaitable<core::Outcome> run(const core::Job& job, core::JobContext& context) override;

private:
    WebhookSettings settings_;
    core::Clock clock_;
    net::http::Client client_;
};

}  // namespace jobq::handlers
