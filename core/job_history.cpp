#include "core/job_history.hpp"

#include <algorithm>

namespace jobq::core {

namespace {

std::size_t slot_of(std::int64_t second) {
    const auto span = static_cast<std::int64_t>(JobHistory::span_seconds);
    return static_cast<std::size_t>(((second % span) + span) % span);
}

}  // namespace

void JobHistory::Ring::add(const EventCounts& events, std::int64_t second) {
    const auto slot = slot_of(second);
    if (stamp[slot] != second) {
        stamp[slot] = second;
        counts[slot] = {};
    }
    for (std::size_t i = 0; i < job_event_count; ++i) counts[slot][i] += static_cast<std::uint32_t>(events[i]);
    last_second = std::max(last_second, second);
}

void JobHistory::Ring::read_into(HistoryWindow::Series& series, std::int64_t first_second, std::size_t seconds) const {
    for (auto& values : series) values.assign(seconds, 0);
    for (std::size_t i = 0; i < seconds; ++i) {
        const std::int64_t second = first_second + static_cast<std::int64_t>(i);
        const auto slot = slot_of(second);
        if (stamp[slot] != second) continue;
        for (std::size_t e = 0; e < job_event_count; ++e) series[e][i] = counts[slot][e];
    }
}

JobHistory::Ring* JobHistory::ring_of(const std::string& queue, std::int64_t second) {
    if (auto it = queues_.find(queue); it != queues_.end()) return it->second.get();
    if (queues_.size() >= max_queues) {
        const auto quiet = std::find_if(queues_.begin(), queues_.end(), [&](const auto& entry) {
            return entry.second->last_second + static_cast<std::int64_t>(span_seconds) <= second;
        });
        if (quiet == queues_.end()) {
            last_untracked_ = second;
            return nullptr;
        }
        queues_.erase(quiet);
    }
    return queues_.emplace(queue, std::make_unique<Ring>()).first->second.get();
}

void JobHistory::record(const JobChanges& changes, std::int64_t unix_second) {
    if (changes.events().empty()) return;
    const std::lock_guard lock(mutex_);
    for (const auto& events : changes.events()) {
        totals_.add(events.counts, unix_second);
        if (Ring* ring = ring_of(events.queue, unix_second)) ring->add(events.counts, unix_second);
    }
}

HistoryWindow JobHistory::window(std::size_t seconds, std::int64_t now_second) const {
    seconds = std::clamp<std::size_t>(seconds, 1, span_seconds);
    HistoryWindow window;
    window.seconds = seconds;
    window.first_second = now_second - static_cast<std::int64_t>(seconds) + 1;
    const std::lock_guard lock(mutex_);
    totals_.read_into(window.totals, window.first_second, seconds);
    for (const auto& [queue, ring] : queues_) {
        if (ring->last_second < window.first_second) continue;  // nothing in the window
        ring->read_into(window.queues[queue], window.first_second, seconds);
    }
    window.every_queue = last_untracked_ < window.first_second;
    return window;
}

}  // namespace jobq::core
