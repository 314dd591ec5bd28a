#include "core/log.hpp"

#include "core/clock.hpp"

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <string>
#include <thread>

namespace jobq::core::log {
namespace {

std::atomic<Level> current_level{Level::info};

constexpr std::size_t buffer_limit = 64 << 10;
constexpr auto flush_interval = std::chrono::milliseconds(100);

// The output: stderr, through a buffer while a BufferedOutput is alive.
struct Output {
    std::mutex mutex;
    std::condition_variable wake;
    std::string pending;      // guarded by mutex
    bool buffering = false;   // guarded by mutex
    bool stopping = false;    // guarded by mutex
    std::thread flusher;

    void flush_locked() {
        if (pending.empty()) return;
        std::fwrite(pending.data(), 1, pending.size(), stderr);
        pending.clear();
    }
};

Output output;
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

namespace {

std::string format_line(Level level, std::string_view message, std::initializer_list<Field> fields) {
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
    return line;
}

}  // namespace

void write(Level level, std::string_view message, std::initializer_list<Field> fields) {
    const std::string line = format_line(level, message, fields);
    const std::lock_guard lock(output.mutex);
    output.pending += line;
    output.flush_locked();
}

void write_batched(Level level, std::string_view message, std::initializer_list<Field> fields) {
    const std::string line = format_line(level, message, fields);
    const std::lock_guard lock(output.mutex);
    output.pending += line;
    if (!output.buffering || output.pending.size() >= buffer_limit) output.flush_locked();
}

BufferedOutput::BufferedOutput() {
    const std::lock_guard lock(output.mutex);
    output.buffering = true;
    output.stopping = false;
    output.flusher = std::thread([] {
        std::unique_lock lock(output.mutex);
        while (!output.stopping) {
            output.wake.wait_for(lock, flush_interval);
            output.flush_locked();
        }
    });
}

BufferedOutput::~BufferedOutput() {
    {
        const std::lock_guard lock(output.mutex);
        output.stopping = true;
    }
    output.wake.notify_one();
    output.flusher.join();
    const std::lock_guard lock(output.mutex);
    output.buffering = false;
    output.flush_locked();
}

}  // namespace jobq::core::log
