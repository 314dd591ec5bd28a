#include "core/job_counts.hpp"

#include <algorithm>

namespace jobq::core {

namespace {

bool all_zero(const StateCounts& counts) {
    return std::all_of(counts.begin(), counts.end(), [](std::int64_t n) { return n == 0; });
}

}  // namespace

void JobCounts::reset(const std::vector<JobCount>& counts) {
    std::map<std::string, ByType, std::less<>> fresh;
    for (const auto& c : counts) fresh[c.queue][c.type][static_cast<std::size_t>(c.state)] += c.count;
    const std::lock_guard lock(mutex_);
    by_queue_.swap(fresh);
}

void JobCounts::apply(const JobChanges& changes) {
    const std::lock_guard lock(mutex_);
    for (const auto& moves : changes.moves()) {
        auto queue = by_queue_.find(moves.queue);
        if (queue == by_queue_.end()) queue = by_queue_.emplace(moves.queue, ByType{}).first;
        auto type = queue->second.find(moves.type);
        if (type == queue->second.end()) type = queue->second.emplace(moves.type, StateCounts{}).first;
        for (std::size_t i = 0; i < job_state_count; ++i) type->second[i] += moves.delta[i];
        // A queue and type left with no job is forgotten, as a count over the jobs would.
        if (all_zero(type->second)) queue->second.erase(type);
        if (queue->second.empty()) by_queue_.erase(queue);
    }
}

StateCounts JobCounts::of(std::string_view queue, std::string_view type) const {
    const std::lock_guard lock(mutex_);
    const auto q = by_queue_.find(queue);
    if (q == by_queue_.end()) return {};
    const auto t = q->second.find(type);
    return t == q->second.end() ? StateCounts{} : t->second;
}

std::vector<JobCount> JobCounts::snapshot() const {
    std::vector<JobCount> out;
    const std::lock_guard lock(mutex_);
    for (const auto& [queue, types] : by_queue_)
        for (const auto& [type, counts] : types)
            for (std::size_t i = 0; i < job_state_count; ++i)
                if (counts[i] != 0) out.push_back({static_cast<JobState>(i), queue, type, counts[i]});
    return out;
}

}  // namespace jobq::core
