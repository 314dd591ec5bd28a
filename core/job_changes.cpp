#include "core/job_changes.hpp"

#include <algorithm>

namespace jobq::core {

namespace {

constexpr std::array<std::string_view, job_event_count> event_names = {"enqueued", "started", "done", "retried",
                                                                       "failed"};

}  // namespace

std::string_view to_string(JobEvent event) { return event_names[static_cast<std::size_t>(event)]; }

void JobChanges::moved(std::string_view queue, std::string_view type, std::optional<JobState> from,
                       std::optional<JobState> to, std::optional<JobEvent> event, std::int64_t count) {
    if (count == 0) return;
    if (from != to) {
        auto& moves = moves_of(queue, type);
        if (from) moves.delta[static_cast<std::size_t>(*from)] -= count;
        if (to) moves.delta[static_cast<std::size_t>(*to)] += count;
    }
    if (event) events_of(queue).counts[static_cast<std::size_t>(*event)] += count;
}

void JobChanges::clear() {
    moves_.clear();
    events_.clear();
}

JobChanges::Moves& JobChanges::moves_of(std::string_view queue, std::string_view type) {
    auto it = std::find_if(moves_.begin(), moves_.end(),
                           [&](const Moves& m) { return m.queue == queue && m.type == type; });
    if (it != moves_.end()) return *it;
    return moves_.emplace_back(Moves{std::string(queue), std::string(type), {}});
}

JobChanges::Events& JobChanges::events_of(std::string_view queue) {
    auto it = std::find_if(events_.begin(), events_.end(), [&](const Events& e) { return e.queue == queue; });
    if (it != events_.end()) return *it;
    return events_.emplace_back(Events{std::string(queue), {}});
}

}  // namespace jobq::core
