#pragma once
// Time in jobq: integer milliseconds since the Unix epoch, everywhere.
// The clock is injectable so backoff, leases and recovery are testable.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace jobq::core {

using millis = std::int64_t;

// Returns the current time. Thread-safe; a test may substitute a fake.
using Clock = std::function<millis()>;

millis system_now_ms();
Clock system_clock();

// "2026-11-28T04:50:59.123Z" (always UTC, always milliseconds).
std::string format_rfc3339(millis t);
void append_rfc3339(std::string& out, millis t);  // the same text, appended to `out`

// Accepts "YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)"; 't'/'z' and a space
// separator are accepted too. Returns nullopt on anything else.
std::optional<millis> parse_rfc3339(std::string_view text);

}  // namespace jobq::core
