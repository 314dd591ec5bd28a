#pragma once
// Structured logging: one logfmt line per event on stderr.
//   ts=2026-11-28T04:50:59.123Z level=info msg="recovered jobs" requeued=3
// Thread-safe. Never pass payloads or secrets as fields.

#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace jobq::core::log {

enum class Level { debug, info, warn, error };

std::optional<Level> parse_level(std::string_view text);
void set_level(Level level);
bool enabled(Level level);

using Field = std::pair<std::string_view, std::string>;

void write(Level level, std::string_view message, std::initializer_list<Field> fields = {});

// For high-volume lines (the access log): while a BufferedOutput is alive they are
// collected and written together, at most 100 ms late.
void write_batched(Level level, std::string_view message, std::initializer_list<Field> fields = {});

// While one is alive, write_batched() lines are collected and written together every
// 100 ms or when 64 KiB are waiting: the access log would otherwise cost a system call per
// request. Every other line is written at once, after what was collected before it.
// Without one, every line is written at once. One at a time.
class BufferedOutput {
public:
    BufferedOutput();
    ~BufferedOutput();  // writes what is left
    BufferedOutput(const BufferedOutput&) = delete;
    BufferedOutput& operator=(const BufferedOutput&) = delete;
};

inline void debug(std::string_view m, std::initializer_list<Field> f = {}) { if (enabled(Level::debug)) write(Level::debug, m, f); }
inline void info(std::string_view m, std::initializer_list<Field> f = {}) { if (enabled(Level::info)) write(Level::info, m, f); }
inline void warn(std::string_view m, std::initializer_list<Field> f = {}) { if (enabled(Level::warn)) write(Level::warn, m, f); }
inline void error(std::string_view m, std::initializer_list<Field> f = {}) { write(Level::error, m, f); }

}  // namespace jobq::core::log
