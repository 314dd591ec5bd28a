#include "core/schedule.hpp"

#include <algorithm>
#include <deque>

namespace jobq::core {

namespace {

constexpr millis first_lookback = 86'400'000;  // a day

// The most recent `keep` ticks in [from, to], oldest first. Looks back from `to` over a
// window that doubles until it holds `keep` ticks or reaches `from`: a long outage of a
// dense schedule costs the ticks of that window, not every tick since.
std::vector<millis> recent_ticks(const cron::Expression& expression, const date::time_zone& zone, millis anchor,
                                 millis from, millis to, std::size_t keep) {
    std::deque<millis> kept;
    for (millis window = first_lookback;; window *= 2) {
        const millis start = std::max(from, to - window);
        kept.clear();
        for (auto tick = cron::next_tick(expression, zone, start - 1, anchor); tick && *tick <= to;
             tick = cron::next_tick(expression, zone, *tick, anchor)) {
            kept.push_back(*tick);
            if (kept.size() > keep) kept.pop_front();
        }
        if (kept.size() >= keep || start == from || window > to - from) break;
    }
    return {kept.begin(), kept.end()};
}

}  // namespace

std::optional<CatchUp> parse_catch_up(std::string_view text) {
    if (text == "none") return CatchUp::none;
    if (text == "latest") return CatchUp::latest;
    if (text == "all") return CatchUp::all;
    return std::nullopt;
}

std::string_view to_string(CatchUp policy) {
    switch (policy) {
        case CatchUp::none: return "none";
        case CatchUp::latest: return "latest";
        case CatchUp::all: return "all";
    }
    return "latest";
}

std::string tick_key(std::string_view schedule, millis tick) {
    return "schedule:" + std::string(schedule) + ":" + std::to_string(tick);
}

TickPlan plan_ticks(const cron::Expression& expression, const date::time_zone& zone, millis anchor, millis next_run_at,
                    millis now, CatchUp policy, millis on_time_after) {
    TickPlan plan;
    if (next_run_at > now) {
        plan.next_run_at = next_run_at;  // nothing due yet
        return plan;
    }
    plan.next_run_at = cron::next_tick(expression, zone, now, anchor);
    const auto due = recent_ticks(expression, zone, anchor, next_run_at, now, max_catch_up_ticks);
    const auto first_on_time = std::upper_bound(due.begin(), due.end(), on_time_after);
    switch (policy) {
        case CatchUp::all: plan.fire = due; break;
        case CatchUp::latest:
            if (first_on_time != due.begin()) plan.fire.push_back(*(first_on_time - 1));
            plan.fire.insert(plan.fire.end(), first_on_time, due.end());
            break;
        case CatchUp::none: plan.fire.assign(first_on_time, due.end()); break;
    }
    return plan;
}

}  // namespace jobq::core
