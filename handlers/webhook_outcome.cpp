#include "handlers/webhook_outcome.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <ctime>
#include <iomanip>
#include <sstream>

namespace jobq::handlers {

namespace {

constexpr std::size_t body_in_error = 200;

bool retryable_status(unsigned status) { return status == 408 || status == 425 || status == 429 || status >= 500; }

// The length of the UTF-8 sequence starting at text[i], or 0 when it is not valid UTF-8.
std::size_t utf8_length(std::string_view text, std::size_t i) {
    const auto lead = static_cast<unsigned char>(text[i]);
    std::size_t length = 0;
    unsigned min = 0;
    unsigned code = 0;
    if (lead < 0x80) return 1;
    if ((lead & 0xe0) == 0xc0) length = 2, min = 0x80, code = lead & 0x1f;
    else if ((lead & 0xf0) == 0xe0) length = 3, min = 0x800, code = lead & 0x0f;
    else if ((lead & 0xf8) == 0xf0) length = 4, min = 0x10000, code = lead & 0x07;
    else return 0;
    if (i + length > text.size()) return 0;
    for (std::size_t k = 1; k < length; ++k) {
        const auto c = static_cast<unsigned char>(text[i + k]);
        if ((c & 0xc0) != 0x80) return 0;
        code = (code << 6) | (c & 0x3f);
    }
    // Overlong forms, surrogates and code points past U+10FFFF are not UTF-8.
    if (code < min || (code >= 0xd800 && code <= 0xdfff) || code > 0x10ffff) return 0;
    return length;
}

std::string describe(const net::http::Response& response) {
    std::string text = "HTTP " + std::to_string(response.status);
    if (!response.reason.empty()) {
        text += ' ';
        text += printable_prefix(response.reason, 100);
    }
    if (response.status >= 300 && response.status < 400) text += " (redirects are not followed)";
    const auto body = printable_prefix(response.body_prefix, body_in_error);
    if (!body.empty()) {
        text += ": ";
        text += body;
    }
    return text;
}

}  // namespace

std::string printable_prefix(std::string_view text, std::size_t max) {
    std::string out;
    for (std::size_t i = 0; i < text.size();) {
        const auto length = utf8_length(text, i);
        const std::size_t emitted = std::max<std::size_t>(length, 1);
        if (out.size() + emitted > max) break;
        if (length == 0) out += '?';
        else if (length == 1 && (static_cast<unsigned char>(text[i]) < 0x20 || text[i] == 0x7f)) out += ' ';
        else out.append(text.substr(i, length));
        i += emitted;
    }
    return out;
}

std::optional<core::millis> parse_retry_after(std::string_view value, core::millis now_ms) {
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    while (!value.empty() && value.back() == ' ') value.remove_suffix(1);
    if (value.empty()) return std::nullopt;
    if (std::isdigit(static_cast<unsigned char>(value.front()))) {
        std::int64_t seconds = 0;
        const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
        if (ec == std::errc::result_out_of_range) return max_retry_after_ms;
        if (ec != std::errc() || end != value.data() + value.size()) return std::nullopt;
        return std::min<core::millis>(seconds, max_retry_after_ms / 1000) * 1000;
    }
    // IMF-fixdate, the only form senders may use (RFC 9110 5.6.7): 29 characters.
    if (value.size() != 29 || !value.ends_with(" GMT")) return std::nullopt;
    std::tm tm{};
    std::istringstream in{std::string(value)};
    in.imbue(std::locale::classic());
    in >> std::get_time(&tm, "%a, %d %b %Y %H:%M:%S GMT");
    if (in.fail() || in.peek() != std::char_traits<char>::eof()) return std::nullopt;
    const core::millis at = static_cast<core::millis>(timegm(&tm)) * 1000;
    return std::clamp<core::millis>(at - now_ms, 0, max_retry_after_ms);
}

core::Outcome webhook_outcome(const net::Result<net::http::Response>& result, core::millis now_ms) {
    if (!result) {
        const auto failure = result.error();
        return failure.permanent ? core::Outcome::permanent(failure.message) : core::Outcome::retryable(failure.message);
    }
    const auto& response = *result;
    if (response.status >= 200 && response.status < 300) return core::Outcome::success();
    if (!retryable_status(response.status)) return core::Outcome::permanent(describe(response));
    if (response.status == 429 || response.status == 503) {
        if (const auto delay = parse_retry_after(response.retry_after, now_ms))
            return core::Outcome::retryable_after(describe(response), *delay);
    }
    return core::Outcome::retryable(describe(response));
}

}  // namespace jobq::handlers
