#include "handlers/noop.hpp"

#include "common/asio_tokens.hpp"

#include <boost/asio/steady_timer.hpp>
#include <boost/json/parse.hpp>

#include <chrono>

namespace jobq::handlers {

namespace asio = boost::asio;
namespace json = boost::json;

namespace {

constexpr std::int64_t max_sleep_ms = 60'000;

struct NoopPayload {
    std::int64_t sleep_ms = 0;
    std::string fail;
};

// Reads a payload already accepted by validate(); anything else is ignored.
NoopPayload read_payload(const json::value& payload) {
    NoopPayload out;
    const auto* object = payload.if_object();
    if (!object) return out;
    if (const auto* sleep = object->if_contains("sleep_ms"); sleep && sleep->is_int64()) out.sleep_ms = sleep->as_int64();
    if (const auto* fail = object->if_contains("fail"); fail && fail->is_string()) out.fail = fail->as_string();
    return out;
}

}  // namespace

std::optional<std::string> NoopHandler::validate(const json::value& payload) const {
    const auto* object = payload.if_object();
    if (!object) return "payload must be an object";
    if (const auto* sleep = object->if_contains("sleep_ms")) {
        if (!sleep->is_int64() || sleep->as_int64() < 0 || sleep->as_int64() > max_sleep_ms)
            return "payload.sleep_ms must be an integer from 0 to 60000";
    }
    if (const auto* fail = object->if_contains("fail")) {
        if (!fail->is_string() || (fail->as_string() != "retryable" && fail->as_string() != "permanent"))
            return "payload.fail must be \"retryable\" or \"permanent\"";
    }
    return std::nullopt;
}

asio::awaitable<core::Outcome> NoopHandler::run(const core::Job& job, core::JobContext& context) {
    json::error_code ec;
    const NoopPayload payload = read_payload(json::parse(job.payload, ec));
    if (payload.sleep_ms > 0) {
        asio::steady_timer timer(context.executor, std::chrono::milliseconds(payload.sleep_ms));
        auto [wait_ec] = co_await timer.async_wait(use_nothrow);
        if (wait_ec) co_return core::Outcome::retryable("cancelled while sleeping");
    }
    if (payload.fail == "retryable") co_return core::Outcome::retryable("noop asked to fail (retryable)");
    if (payload.fail == "permanent") co_return core::Outcome::permanent("noop asked to fail (permanent)");
    co_return core::Outcome::success();
}

}  // namespace jobq::handlers
