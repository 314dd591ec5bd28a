#include "app/cli/output.hpp"

#include <boost/json/serialize.hpp>

#include <algorithm>
#include <array>

namespace jobq::app::cli {

namespace json = boost::json;

namespace {

void indent_into(std::string& out, const json::value& value, std::size_t depth) {
    const std::string pad((depth + 1) * 2, ' ');
    const std::string closing_pad(depth * 2, ' ');
    if (const auto* object = value.if_object(); object && !object->empty()) {
        out += "{\n";
        bool first = true;
        for (const auto& member : *object) {
            if (!first) out += ",\n";
            first = false;
            out += pad + json::serialize(json::string_view(member.key())) + ": ";
            indent_into(out, member.value(), depth + 1);
        }
        out += "\n" + closing_pad + "}";
    } else if (const auto* array = value.if_array(); array && !array->empty()) {
        out += "[\n";
        bool first = true;
        for (const auto& element : *array) {
            if (!first) out += ",\n";
            first = false;
            out += pad;
            indent_into(out, element, depth + 1);
        }
        out += "\n" + closing_pad + "]";
    } else {
        out += json::serialize(value);
    }
}

std::string cell(const json::object& job, std::string_view key) {
    const auto* value = job.if_contains(key);
    if (!value || value->is_null()) return "-";
    if (const auto* text = value->if_string()) return std::string(*text);
    return json::serialize(*value);
}

// The first `width` characters of one line of text (UTF-8 kept whole), "…" when cut.
// Control characters (an escape sequence in a program's stderr, say) become spaces: they
// would reach the operator's terminal.
std::string one_line(std::string text, std::size_t width) {
    std::replace_if(
        text.begin(), text.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7F; }, ' ');
    std::size_t characters = 0;
    for (std::size_t i = 0; i < text.size(); ++i) {
        if ((static_cast<unsigned char>(text[i]) & 0xC0) == 0x80) continue;  // a continuation byte
        if (characters++ == width) return text.substr(0, i) + "…";
    }
    return text;
}

std::size_t display_width(const std::string& text) {
    return static_cast<std::size_t>(
        std::count_if(text.begin(), text.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

}  // namespace

std::string indented_json(const json::value& value) {
    std::string out;
    indent_into(out, value, 0);
    return out;
}

std::string job_table(const std::vector<json::object>& jobs, std::size_t error_width) {
    constexpr std::array<std::string_view, 8> keys = {"id",       "state",  "queue",     "type",
                                                      "priority", "attempts", "run_at", "last_error"};
    constexpr std::array<std::string_view, 8> titles = {"ID",  "STATE",    "QUEUE",  "TYPE",
                                                        "PRI", "ATTEMPTS", "RUN AT", "LAST ERROR"};
    std::vector<std::array<std::string, keys.size()>> rows;
    rows.push_back({});
    for (std::size_t c = 0; c < keys.size(); ++c) rows.back()[c] = std::string(titles[c]);
    for (const auto& job : jobs) {
        rows.push_back({});
        for (std::size_t c = 0; c < keys.size(); ++c) rows.back()[c] = one_line(cell(job, keys[c]), 200);
        rows.back().back() = one_line(rows.back().back(), error_width);
    }
    std::array<std::size_t, keys.size()> widths{};
    for (const auto& row : rows)
        for (std::size_t c = 0; c < keys.size(); ++c) widths[c] = std::max(widths[c], display_width(row[c]));
    std::string out;
    for (const auto& row : rows) {
        std::string line;
        for (std::size_t c = 0; c < keys.size(); ++c) {
            line += row[c];
            if (c + 1 < keys.size()) line += std::string(widths[c] - display_width(row[c]) + 2, ' ');
        }
        out += line + "\n";
    }
    return out;
}

}  // namespace jobq::app::cli
