#include "core/log.hpp"

#include "core/clock.hpp"

#include <array>
#include <atomic>
#include <cstdio>
#include <mutex>

namespace jobq::core::log {
namespace {

std::atomic<Level> current_level{Level::info};
std::mutex write_mutex;
constexpr std::array<std::string_view, 4> level_names = {"debug", "info", "warn", "error"};

bool needs_quotes(std::string_view v) {
    if (v.empty()) return true;
    for (const char c : v)
        if (c == ' ' || c == '"' || c == '=' || c == '\\' || static_cast<unsigned char>(c) < 0x20) return true;
    return false;
}

void append_value(std::string& line, std::string_view v) {
    if (!needs_quotes(v)) {
        line += v;
        return;
    }
    line += '"';
    for (const char c : v) {
        switch (c) {
            case '"': line += "\\\""; break;
            case '\\': line += "\\\\"; break;
            case '\n': line += "\\n"; break;
            case '\r': line += "\\r"; break;
            case '\t': line += "\\t"; break;
            default:
                if (static_cast<unsigned char>(c) < 0x20) line += '?';
                else line += c;
        }
    }
    line += '"';
}

}  // namespace

std::optional<Level> parse_level(std::string_view text) {
    for (std::size_t i = 0; i < level_names.size(); ++i)
        if (level_names[i] == text) return static_cast<Level>(i);
    return std::nullopt;
}

void set_level(Level level) { current_level.store(level, std::memory_order_relaxed); }

bool enabled(Level level) { return level >= current_level.load(std::memory_order_relaxed); }

void write(Level level, std::string_view message, std::initializer_list<Field> fields) {
    std::string line = "ts=" + format_rfc3339(system_now_ms());
    line += " level=";
    line += level_names[static_cast<std::size_t>(level)];
    line += " msg=";
    append_value(line, message);
    for (const auto& [key, value] : fields) {
        line += ' ';
        line += key;
        line += '=';
        append_value(line, value);
    }
    line += '\n';
    const std::lock_guard lock(write_mutex);
    std::fwrite(line.data(), 1, line.size(), stderr);
}

}  // namespace jobq::core::log
