#pragma once
// Durations as people write them, in one place for the flags, the command-line client and
// cron's @every: a bare number of milliseconds ("1500"), or one or more parts each with a
// unit, ms, s, m, h or d ("250ms", "30s", "1h30m", "2d").

#include "core/clock.hpp"

#include <array>
#include <charconv>
#include <optional>
#include <string_view>
#include <utility>

namespace jobq::core {

// The milliseconds `text` stands for; none when it is not a duration or is beyond `max`
// (the sum is checked as it grows: no overflow).
inline std::optional<millis> parse_duration_ms(std::string_view text, millis max = std::int64_t{1} << 62) {
    static constexpr std::array<std::pair<std::string_view, millis>, 5> units = {
        {{"ms", 1}, {"s", 1'000}, {"m", 60'000}, {"h", 3'600'000}, {"d", 86'400'000}}};
    if (text.empty()) return std::nullopt;
    millis total = 0;
    for (bool first = true; !text.empty(); first = false) {
        millis number = 0;
        const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), number);
        if (ec != std::errc() || end == text.data() || number < 0) return std::nullopt;
        text.remove_prefix(static_cast<std::size_t>(end - text.data()));
        millis scale = 1;
        if (!text.empty() || !first) {  // a bare number is milliseconds; a part needs its unit
            const auto* unit = units.end();
            for (auto it = units.begin(); it != units.end(); ++it)
                if (text.starts_with(it->first) && (unit == units.end() || it->first.size() > unit->first.size()))
                    unit = it;
            if (unit == units.end()) return std::nullopt;
            text.remove_prefix(unit->first.size());
            scale = unit->second;
        }
        if (number > (max - total) / scale) return std::nullopt;
        total += number * scale;
    }
    return total;
}

}  // namespace jobq::core
