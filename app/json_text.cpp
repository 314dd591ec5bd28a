#include "app/json_text.hpp"

#include <array>
#include <charconv>

namespace jobq::app {

void append_json_string(std::string& out, std::string_view text) {
    constexpr std::string_view hex = "0123456789abcdef";
    out += '"';
    std::size_t clean_from = 0;  // runs that need no escaping are copied in one append
    for (std::size_t i = 0; i < text.size(); ++i) {
        const auto c = static_cast<unsigned char>(text[i]);
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        out.append(text, clean_from, i - clean_from);
        clean_from = i + 1;
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            case '\b': out += "\\b"; break;
            case '\f': out += "\\f"; break;
            default:
                out += "\\u00";
                out += hex[c >> 4];
                out += hex[c & 0xf];
        }
    }
    out.append(text, clean_from);
    out += '"';
}

JsonObjectWriter::JsonObjectWriter(std::string& out) : out_(out) { out_ += '{'; }

void JsonObjectWriter::key(std::string_view name) {
    if (!first_) out_ += ',';
    first_ = false;
    append_json_string(out_, name);
    out_ += ':';
}

JsonObjectWriter& JsonObjectWriter::integer(std::string_view name, std::int64_t n) {
    key(name);
    std::array<char, 24> digits;
    const auto result = std::to_chars(digits.data(), digits.data() + digits.size(), n);
    out_.append(digits.data(), result.ptr);
    return *this;
}

JsonObjectWriter& JsonObjectWriter::string(std::string_view name, std::string_view text) {
    key(name);
    append_json_string(out_, text);
    return *this;
}

JsonObjectWriter& JsonObjectWriter::string_or_null(std::string_view name, const std::optional<std::string>& text) {
    if (text) return string(name, *text);
    return raw(name, "null");
}

JsonObjectWriter& JsonObjectWriter::time_or_null(std::string_view name, const std::optional<core::millis>& t) {
    if (!t) return raw(name, "null");
    key(name);
    out_ += '"';  // RFC 3339 text holds nothing JSON escapes
    core::append_rfc3339(out_, *t);
    out_ += '"';
    return *this;
}

JsonObjectWriter& JsonObjectWriter::raw(std::string_view name, std::string_view json_text) {
    key(name);
    out_ += json_text;
    return *this;
}

void JsonObjectWriter::close() { out_ += '}'; }

}  // namespace jobq::app
