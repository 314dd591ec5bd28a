#pragma once
// Writing JSON text straight into a string, for responses built from values already known
// to be valid: stored payloads are canonical JSON and are copied through, not re-parsed,
// and no intermediate json::value is built per job.

#include "core/clock.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace jobq::app {

// `"text"` with quotes, backslashes and control characters escaped. `text` is UTF-8.
void append_json_string(std::string& out, std::string_view text);

// Appends one object member by member: `{` on construction, `}` on close().
class JsonObjectWriter {
public:
    explicit JsonObjectWriter(std::string& out);

    JsonObjectWriter& integer(std::string_view key, std::int64_t n);
    JsonObjectWriter& string(std::string_view key, std::string_view text);
    JsonObjectWriter& string_or_null(std::string_view key, const std::optional<std::string>& text);
    JsonObjectWriter& time_or_null(std::string_view key, const std::optional<core::millis>& t);  // RFC 3339
    JsonObjectWriter& raw(std::string_view key, std::string_view json_text);  // must be valid JSON
    void close();

private:
    void key(std::string_view name);

    std::string& out_;
    bool first_ = true;
};

}  // namespace jobq::app
