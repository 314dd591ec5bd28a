#include "core/clock.hpp"

#include <chrono>
#include <cstdio>

namespace jobq::core {
namespace {

namespace chrono = std::chrono;

// The Gregorian calendar repeats every 400 years (146097 days). std::chrono::year ends at
// 32767 while millis reach 292 million years either way, so the calendar types convert a
// day within one cycle and whole cycles are counted apart.
using cycles = chrono::duration<std::int64_t, std::ratio_multiply<std::ratio<146'097>, chrono::days::period>>;

struct civil {
    std::int64_t year;
    unsigned month;
    unsigned day;
};

civil civil_from_days(chrono::days d) {
    const auto whole = chrono::floor<cycles>(d);
    const chrono::year_month_day date{chrono::sys_days{d - whole}};
    return {static_cast<int>(date.year()) + whole.count() * 400, static_cast<unsigned>(date.month()),
            static_cast<unsigned>(date.day())};
}

class cursor {
public:
    explicit cursor(std::string_view s) : s_(s) {}
    bool digits(std::size_t n, int& out) {
        if (pos_ + n > s_.size()) return false;
        int v = 0;
        for (std::size_t i = 0; i < n; ++i) {
            const char c = s_[pos_ + i];
            if (c < '0' || c > '9') return false;
            v = v * 10 + (c - '0');
        }
        pos_ += n;
        out = v;
        return true;
    }
    bool literal(char c) {
        if (pos_ < s_.size() && s_[pos_] == c) {
            ++pos_;
            return true;
        }
        return false;
    }
    bool one_of(std::string_view set) {
        if (pos_ < s_.size() && set.find(s_[pos_]) != std::string_view::npos) {
            ++pos_;
            return true;
        }
        return false;
    }
    bool peek_digit() const { return pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9'; }
    bool at_end() const { return pos_ == s_.size(); }

private:
    std::string_view s_;
    std::size_t pos_ = 0;
};

}  // namespace

millis system_now_ms() {
    using namespace std::chrono;
    return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

Clock system_clock() { return &system_now_ms; }

namespace {

// Writes `value` as exactly `width` decimal digits ending just before `end`.
char* put_digits(char* end, unsigned value, int width) {
    for (int i = 0; i < width; ++i) {
        *--end = static_cast<char>('0' + value % 10);
        value /= 10;
    }
    return end;
}

}  // namespace

// Formatted by hand: this runs for every timestamp of every job the API returns, and
// snprintf's format parsing costs several times the arithmetic.
void append_rfc3339(std::string& out, millis t) {
    const std::int64_t ms_per_day = 86'400'000;
    std::int64_t days = t / ms_per_day;
    std::int64_t rest = t % ms_per_day;
    if (rest < 0) {
        rest += ms_per_day;
        --days;
    }
    const civil c = civil_from_days(chrono::days{days});
    const auto secs = static_cast<unsigned>(rest / 1000);
    if (c.year < 0 || c.year > 9999) {  // not reachable from the API's inputs, formatted anyway
        char buf[48];
        std::snprintf(buf, sizeof buf, "%lld-%02u-%02uT%02u:%02u:%02u.%03uZ", static_cast<long long>(c.year), c.month,
                      c.day, secs / 3600, secs / 60 % 60, secs % 60, static_cast<unsigned>(rest % 1000));
        out += buf;
        return;
    }
    const auto at = out.size();
    out += "0000-00-00T00:00:00.000Z";
    char* p = out.data() + at;
    put_digits(p + 4, static_cast<unsigned>(c.year), 4);
    put_digits(p + 7, c.month, 2);
    put_digits(p + 10, c.day, 2);
    put_digits(p + 13, secs / 3600, 2);
    put_digits(p + 16, secs / 60 % 60, 2);
    put_digits(p + 19, secs % 60, 2);
    put_digits(p + 23, static_cast<unsigned>(rest % 1000), 3);
}

std::string format_rfc3339(millis t) {
    std::string out;
    append_rfc3339(out, t);
    return out;
}

std::optional<millis> parse_rfc3339(std::string_view text) {
    cursor in(text);
    int year, month, day, hour, minute, second;
    if (!in.digits(4, year) || !in.literal('-') || !in.digits(2, month) || !in.literal('-') ||
        !in.digits(2, day) || !in.one_of("Tt ") || !in.digits(2, hour) || !in.literal(':') ||
        !in.digits(2, minute) || !in.literal(':') || !in.digits(2, second))
        return std::nullopt;
    // ok() is false for month 13, day 0, February 29 of a common year and the like.
    const chrono::year_month_day date{chrono::year{year}, chrono::month{static_cast<unsigned>(month)},
                                      chrono::day{static_cast<unsigned>(day)}};
    if (!date.ok() || hour > 23 || minute > 59 || second > 60) return std::nullopt;

    millis fraction_ms = 0;
    if (in.literal('.')) {
        if (!in.peek_digit()) return std::nullopt;
        millis scale = 100;
        while (in.peek_digit()) {
            int digit = 0;
            in.digits(1, digit);
            fraction_ms += digit * scale;
            scale /= 10;
        }
    }

    millis offset_ms = 0;
    if (!in.one_of("Zz")) {
        const bool minus = in.literal('-');
        if (!minus && !in.literal('+')) return std::nullopt;
        int oh, om;
        if (!in.digits(2, oh) || !in.literal(':') || !in.digits(2, om) || oh > 23 || om > 59)
            return std::nullopt;
        offset_ms = (oh * 60 + om) * 60'000LL * (minus ? -1 : 1);
    }
    if (!in.at_end()) return std::nullopt;

    // A leap second (:60) is folded onto the next second.
    const millis days = chrono::sys_days{date}.time_since_epoch().count();
    return days * 86'400'000 + ((hour * 60LL + minute) * 60 + second) * 1000 + fraction_ms - offset_ms;
}

}  // namespace jobq::core
