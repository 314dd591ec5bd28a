#pragma once
// Cron expressions and their ticks, for schedules. Five fields (minute, hour, day of
// month, month, day of week) with `*`, lists, ranges, steps, and month and weekday names;
// @yearly, @monthly, @weekly, @daily, @hourly; and @every <duration> (at least 1 s).
//
// Ticks are computed in a time zone, with its daylight-saving changes:
//   - a local time that does not exist (the hour skipped in spring) fires once, at the
//     first instant after the gap;
//   - a local time that happens twice (the hour repeated in autumn) fires once, at its
//     first occurrence, when the hour field names hours; when it is `*` or has a step, it
//     fires at every real instant it matches (an hourly schedule stays hourly).
// Day of month and day of week: when both are restricted (neither begins with `*`), a
// day matching either matches; otherwise a day must match both (Vixie cron's rule).

#include "core/clock.hpp"
#include "core/error.hpp"

#include <bitset>
#include <optional>
#include <string>
#include <string_view>

namespace date {
class time_zone;
}

namespace jobq::core::cron {

struct Expression {
    std::bitset<60> minutes;
    std::bitset<24> hours;
    std::bitset<32> days_of_month;  // 1..31
    std::bitset<13> months;         // 1..12
    std::bitset<7> days_of_week;    // 0 (Sunday)..6
    bool day_of_month_star = false;  // the field begins with '*'
    bool day_of_week_star = false;
    bool every_hour = false;  // the hour field is `*` or has a step
    std::optional<millis> every;  // @every: the interval, and the fields are unused
};

// The expression, or an errc::invalid error saying where it is wrong ("hour: 24 is out of
// range 0-23").
Result<Expression> parse(std::string_view text);

// The zone of an IANA name ("Europe/Berlin", "UTC") from the system's tz database; null
// when there is none of that name.
const date::time_zone* find_zone(std::string_view name);

// The first tick strictly after `after`; none when the expression cannot match within
// thirty years. For @every, the ticks are anchor + k × interval, k ≥ 1.
std::optional<millis> next_tick(const Expression& expression, const date::time_zone& zone, millis after,
                                millis anchor = 0);

}  // namespace jobq::core::cron
