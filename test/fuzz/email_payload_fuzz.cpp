// Fuzz target: a JSON payload for an email (and, the same bytes, for a webhook). An
// accepted email is built into a message, which must hold no bare CR or LF and no line
// longer than RFC 5322's 998 characters: nothing in a payload can inject a header.

#include "handlers/email_message.hpp"
#include "handlers/webhook_request.hpp"

#include <boost/json/parse.hpp>

#include <cstdint>
#include <cstdlib>
#include <string_view>

namespace {

void check_lines(std::string_view message) {
    std::size_t line_start = 0;
    for (std::size_t i = 0; i < message.size(); ++i) {
        if (message[i] == '\n' && (i == 0 || message[i - 1] != '\r')) std::abort();
        if (message[i] == '\r' && (i + 1 == message.size() || message[i + 1] != '\n')) std::abort();
        if (message[i] == '\n') {
            if (i - line_start > 999) std::abort();
            line_start = i + 1;
        }
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    boost::json::error_code ec;
    const auto payload = boost::json::parse(std::string_view(reinterpret_cast<const char*>(data), size), ec);
    if (ec) return 0;
    const auto email = jobq::handlers::parse_email(payload);
    if (email) {
        const jobq::handlers::Envelope envelope{"jobq <noreply@jobq.test>", 1'800'000'000'000, "<jobq.1.2@jobq.test>"};
        check_lines(jobq::handlers::build_message(*email, envelope, "=_jobq_1"));
    }
    jobq::handlers::parse_webhook(payload);
    return 0;
}
