#include "storage/postgres/arrays.hpp"

#include <cstdio>

namespace jobq::storage::pg {

namespace {

void append_quoted(std::string& out, const std::string& value) {
    out += '"';
    for (const char c : value) {
        if (c == '\0') {
            out += "\xEF\xBF\xBD";  // U+FFFD: PostgreSQL's text holds no NUL (connection.hpp)
            continue;
        }
        if (c == '"' || c == '\\') out += '\\';
        out += c;
    }
    out += '"';
}

template <class T, class Append>
std::string array_of(const std::vector<T>& values, Append append) {
    std::string out = "{";
    for (std::size_t i = 0; i < values.size(); ++i) {
        if (i > 0) out += ',';
        append(out, values[i]);
    }
    out += '}';
    return out;
}

}  // namespace

std::string text_array(const std::vector<std::string>& values) {
    return array_of(values, append_quoted);
}

std::string text_array(const std::vector<std::optional<std::string>>& values) {
    return array_of(values, [](std::string& out, const std::optional<std::string>& value) {
        if (value)
            append_quoted(out, *value);
        else
            out += "NULL";
    });
}

std::string int_array(const std::vector<std::int64_t>& values) {
    return array_of(values, [](std::string& out, std::int64_t value) { out += std::to_string(value); });
}

std::string bool_array(const std::vector<bool>& values) {
    std::string out = "{";
    for (std::size_t i = 0; i < values.size(); ++i) {
        if (i > 0) out += ',';
        out += values[i] ? 't' : 'f';
    }
    out += '}';
    return out;
}

std::string exact_text(double value) {
    char text[32];
    std::snprintf(text, sizeof text, "%.17g", value);
    return text;
}

}  // namespace jobq::storage::pg
