#pragma once
// What a webhook's answer means for the job, without any I/O.
//
//   2xx                                  success
//   408, 425, 429, 5xx                   retryable; on 429 and 503 a Retry-After (seconds or
//                                        an HTTP date) sets when, at most an hour away
//   timeouts, connection and TLS errors  retryable
//   a denied address                     permanent
//   3xx (redirects are not followed),
//   any other 4xx                        permanent
//
// last_error gets the status, the reason and the first bytes of the body.

#include "core/handler.hpp"
#include "net/http_client.hpp"

#include <optional>
#include <string>
#include <string_view>

namespace jobq::handlers {

// Retry-After is honoured up to this; a later date is treated as this.
constexpr core::millis max_retry_after_ms = 3'600'000;

core::Outcome webhook_outcome(const net::Result<net::http::Response>& result, core::millis now_ms);

// Retry-After as milliseconds from now: delay-seconds or an IMF-fixdate
// ("Sun, 06 Nov 1994 08:49:37 GMT"). nullopt when it is neither; a past date is 0.
std::optional<core::millis> parse_retry_after(std::string_view value, core::millis now_ms);

// At most `max` bytes of `text` as valid UTF-8 on one line: control characters become
// spaces, bytes that are not UTF-8 become '?', and a cut never splits a character.
std::string printable_prefix(std::string_view text, std::size_t max);

}  // namespace jobq::handlers
