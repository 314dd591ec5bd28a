#pragma once
// The `noop` job type: succeeds, for load tests and for exercising the lifecycle.
// Payload (other keys are ignored):
//   sleep_ms: 0..60000   wait this long (asynchronously) first
//   fail:     "retryable" | "permanent"   end with that failure instead

#include "core/handler.hpp"

namespace jobq::handlers {

class NoopHandler final : public core::Handler {
public:
    std::string_view type() const override { return "noop"; }
    std::optional<std::string> validate(const boost::json::value& payload) const override;
    boost::asio::awaitable<core::Outcome> run(const core::Job& job, core::JobContext& context) override;
};

}  // namespace jobq::handlers
