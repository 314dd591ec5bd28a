#include "core/cron.hpp"

#include "core/duration.hpp"

#include <date/date.h>
#include <date/tz.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <vector>

namespace jobq::core::cron {

namespace {

using namespace std::chrono;

struct Field {
    std::string_view name;
    int low;
    int high;
    std::array<std::string_view, 12> names;  // names[i] is the value low + i; empty: none
};

constexpr Field minute_field{"minute", 0, 59, {}};
constexpr Field hour_field{"hour", 0, 23, {}};
constexpr Field day_field{"day of month", 1, 31, {}};
constexpr Field month_field{
    "month", 1, 12, {"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}};
// 7 is Sunday too.
constexpr Field weekday_field{"day of week", 0, 7, {"sun", "mon", "tue", "wed", "thu", "fri", "sat"}};

Error invalid(std::string message) { return make_error(errc::invalid, std::move(message), "invalid_cron"); }

std::string lower(std::string_view text) {
    std::string out(text);
    std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return out;
}

Result<int> value_of(const Field& field, std::string_view text) {
    const std::string word = lower(text);
    for (std::size_t i = 0; i < field.names.size(); ++i)
        if (!field.names[i].empty() && word == field.names[i]) return field.low + static_cast<int>(i);
    int value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || ec != std::errc() || end != text.data() + text.size())
        return invalid(std::string(field.name) + ": '" + std::string(text) + "' is not a number" +
                       (field.names[0].empty() ? "" : " or a name"));
    if (value < field.low || value > field.high)
        return invalid(std::string(field.name) + ": " + std::string(text) + " is out of range " +
                       std::to_string(field.low) + "-" + std::to_string(field.high));
    return value;
}

std::vector<std::string_view> split(std::string_view text, char separator) {
    std::vector<std::string_view> parts;
    for (std::size_t begin = 0;;) {
        const auto end = text.find(separator, begin);
        parts.push_back(text.substr(begin, end == std::string_view::npos ? std::string_view::npos : end - begin));
        if (end == std::string_view::npos) return parts;
        begin = end + 1;
    }
}

// One item of a list: `*`, `v`, `a-b`, each optionally `/step` (`v/step` runs to the end).
Result<void> add_item(const Field& field, std::string_view item, std::vector<bool>& values) {
    const std::string where = std::string(field.name) + ": '" + std::string(item) + "'";
    std::string_view range = item;
    int step = 1;
    if (const auto slash = item.find('/'); slash != std::string_view::npos) {
        range = item.substr(0, slash);
        const auto step_text = item.substr(slash + 1);
        const auto [end, ec] = std::from_chars(step_text.data(), step_text.data() + step_text.size(), step);
        if (step_text.empty() || ec != std::errc() || end != step_text.data() + step_text.size() || step < 1)
            return invalid(where + " has a step that is not a positive number");
        if (step > field.high - field.low + 1)
            return invalid(where + " has a step larger than the field's range");
    }
    int first = field.low;
    int last = field.high;
    if (range != "*") {
        const auto dash = range.find('-');
        auto from = value_of(field, range.substr(0, dash));
        if (!from) return from.error();
        first = *from;
        last = item.find('/') != std::string_view::npos ? field.high : first;
        if (dash != std::string_view::npos) {
            auto to = value_of(field, range.substr(dash + 1));
            if (!to) return to.error();
            last = *to;
            if (last < first) return invalid(where + " is a range that ends before it begins");
        }
    }
    for (int v = first; v <= last; v += step) values[static_cast<std::size_t>(v)] = true;  // step <= 60: no overflow
    return {};
}

template <std::size_t N>
Result<std::bitset<N>> parse_field(const Field& field, std::string_view text) {
    std::vector<bool> values(static_cast<std::size_t>(field.high) + 1, false);
    for (const auto item : split(text, ',')) {
        if (item.empty()) return invalid(std::string(field.name) + ": an empty item in '" + std::string(text) + "'");
        if (auto added = add_item(field, item, values); !added) return added.error();
    }
    std::bitset<N> bits;
    for (std::size_t v = 0; v < values.size(); ++v)
        if (values[v]) bits.set(v % N);  // day of week 7 folds onto 0 (Sunday)
    return bits;
}

// The longest @every: ten years, as the longest delay a job may be given.
constexpr millis longest_every = 10 * 366 * 86'400'000LL;

// A day of month only some months have (31, or 30 with only February) must be in one of
// the months chosen, or the expression never fires (unless day of week may match alone).
Result<void> check_reachable(const Expression& e) {
    if (!e.day_of_month_star && !e.day_of_week_star) return {};  // either may match
    static constexpr std::array<int, 13> longest = {0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    for (int month = 1; month <= 12; ++month) {
        if (!e.months[static_cast<std::size_t>(month)]) continue;
        for (int day = 1; day <= longest[static_cast<std::size_t>(month)]; ++day)
            if (e.days_of_month[static_cast<std::size_t>(day)]) return {};
    }
    return invalid("day of month: no month chosen has any of the days chosen, so it would never fire");
}

std::string_view macro_expansion(std::string_view word) {
    static const std::array<std::pair<std::string_view, std::string_view>, 7> macros = {
        {{"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"}, {"@weekly", "0 0 * * 0"},
         {"@daily", "0 0 * * *"}, {"@midnight", "0 0 * * *"}, {"@hourly", "0 * * * *"}}};
    for (const auto& [name, expansion] : macros)
        if (word == name) return expansion;
    return {};
}

std::vector<std::string_view> words(std::string_view text) {
    std::vector<std::string_view> out;
    std::size_t i = 0;
    while (i < text.size()) {
        while (i < text.size() && (text[i] == ' ' || text[i] == '\t')) ++i;
        const auto begin = i;
        while (i < text.size() && text[i] != ' ' && text[i] != '\t') ++i;
        if (i > begin) out.push_back(text.substr(begin, i - begin));
    }
    return out;
}

// --- ticks ---------------------------------------------------------------------------------

bool day_matches(const Expression& e, date::year_month_day ymd, date::weekday wd) {
    const bool by_month_day = e.days_of_month[static_cast<unsigned>(ymd.day())];
    const bool by_week_day = e.days_of_week[wd.c_encoding()];
    if (e.day_of_month_star || e.day_of_week_star) return by_month_day && by_week_day;
    return by_month_day || by_week_day;
}

// The first local minute at or after `from` that the fields match; none within `until`.
std::optional<date::local_time<minutes>> next_local_match(const Expression& e, date::local_time<minutes> from,
                                                          date::local_time<minutes> until) {
    while (from <= until) {
        const auto day = floor<date::days>(from);
        const date::year_month_day ymd(day);
        if (!e.months[static_cast<unsigned>(ymd.month())]) {
            const auto next_month = ymd.year() / ymd.month() / 1 + date::months(1);
            from = date::local_days(next_month);
            continue;
        }
        if (!day_matches(e, ymd, date::weekday(day))) {
            from = day + date::days(1);
            continue;
        }
        const auto time_of_day = from - day;
        const auto hour = duration_cast<hours>(time_of_day);
        if (!e.hours[static_cast<std::size_t>(hour.count())]) {
            from = day + hour + hours(1);
            continue;
        }
        const auto minute = (time_of_day - hour).count();
        if (!e.minutes[static_cast<std::size_t>(minute)]) {
            from += minutes(1);
            continue;
        }
        return from;
    }
    return std::nullopt;
}

// The real instants a matching local minute stands for (see the header).
std::vector<date::sys_time<milliseconds>> instants_of(const Expression& e, const date::time_zone& zone,
                                                      date::local_time<minutes> local) {
    const auto info = zone.get_info(local);
    const date::local_time<milliseconds> at(local.time_since_epoch());
    switch (info.result) {
        case date::local_info::unique: return {date::sys_time<milliseconds>((at - info.first.offset).time_since_epoch())};
        case date::local_info::nonexistent: return {date::sys_time<milliseconds>(info.second.begin)};
        case date::local_info::ambiguous: break;
    }
    std::vector<date::sys_time<milliseconds>> both = {
        date::sys_time<milliseconds>((at - info.first.offset).time_since_epoch())};
    if (e.every_hour) both.emplace_back((at - info.second.offset).time_since_epoch());
    return both;
}

// Local time is not monotonic in real time (an hour repeats), so matches are looked for
// from three hours before `after`'s wall time, and the earliest instant after `after` kept
// once no later wall time could give an earlier one.
constexpr hours widest_offset_change{3};
// An expression may match rarely: `0 0 */31 2 mon` (the 1st of February, a Monday) recurs
// after up to 11 years, a given weekday's February 29 after 28.
constexpr date::years search_limit{30};

std::optional<millis> next_field_tick(const Expression& e, const date::time_zone& zone, millis after) {
    const date::sys_time<milliseconds> after_t{milliseconds(after)};
    const auto wall = floor<minutes>(zone.to_local(after_t));
    const auto until = wall + duration_cast<minutes>(search_limit);
    std::optional<date::sys_time<milliseconds>> best;
    for (auto from = wall - widest_offset_change; from <= until;) {
        const auto match = next_local_match(e, from, until);
        if (!match) break;
        if (best && *match > floor<minutes>(zone.to_local(*best)) + widest_offset_change) break;
        for (const auto instant : instants_of(e, zone, *match))
            if (instant > after_t && (!best || instant < *best)) best = instant;
        from = *match + minutes(1);
    }
    if (!best) return std::nullopt;
    return best->time_since_epoch().count();
}

}  // namespace

Result<Expression> parse(std::string_view text) {
    Expression e;
    auto fields = words(text);
    if (!fields.empty() && lower(fields[0]) == "@every") {
        if (fields.size() != 2) return invalid("@every: give one duration, such as @every 90s");
        const auto interval = parse_duration_ms(fields[1], longest_every);
        if (!interval)
            return invalid("@every: '" + std::string(fields[1]) +
                           "' is not a duration such as 90s, 5m or 1h30m (ten years at most)");
        if (*interval < 1'000) return invalid("@every: the interval must be at least 1s");
        e.every = interval;
        return e;
    }
    if (fields.size() == 1 && fields[0].starts_with('@')) {
        const auto expansion = macro_expansion(lower(fields[0]));
        if (expansion.empty())
            return invalid("unknown '" + std::string(fields[0]) +
                           "': use @yearly, @monthly, @weekly, @daily, @hourly or @every <duration>");
        fields = words(expansion);
    }
    if (fields.size() != 5)
        return invalid("expected 5 fields (minute hour day-of-month month day-of-week), found " +
                       std::to_string(fields.size()));
    auto minutes_ = parse_field<60>(minute_field, fields[0]);
    if (!minutes_) return minutes_.error();
    auto hours_ = parse_field<24>(hour_field, fields[1]);
    if (!hours_) return hours_.error();
    auto days = parse_field<32>(day_field, fields[2]);
    if (!days) return days.error();
    auto months = parse_field<13>(month_field, fields[3]);
    if (!months) return months.error();
    auto weekdays = parse_field<7>(weekday_field, fields[4]);
    if (!weekdays) return weekdays.error();
    e.minutes = *minutes_;
    e.hours = *hours_;
    e.days_of_month = *days;
    e.months = *months;
    e.days_of_week = *weekdays;
    e.day_of_month_star = fields[2].starts_with('*');
    e.day_of_week_star = fields[4].starts_with('*');
    e.every_hour = fields[1].starts_with('*') || fields[1].find('/') != std::string_view::npos;
    if (auto reachable = check_reachable(e); !reachable) return reachable.error();
    return e;
}

const date::time_zone* find_zone(std::string_view name) {
    try {
        return date::locate_zone(name);
    } catch (const std::exception&) {
        return nullptr;
    }
}

std::optional<millis> next_tick(const Expression& expression, const date::time_zone& zone, millis after,
                                millis anchor) {
    if (expression.every) {
        const millis every = *expression.every;
        if (after < anchor) return anchor + every;
        return anchor + ((after - anchor) / every + 1) * every;
    }
    return next_field_tick(expression, zone, after);
}

}  // namespace jobq::core::cron
