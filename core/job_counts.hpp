#pragma once
// Jobs per state, queue and type, kept as the jobs change: what /stats, /metrics and every
// view of queues show, read without touching the database. The store loads them when it
// opens and applies each committed transaction's changes (core::JobChanges), in commit
// order, so they always equal a count over the stored jobs. Thread-safe.

#include "core/job_changes.hpp"

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace jobq::core {

struct JobCount {
    JobState state;
    std::string queue;
    std::string type;
    std::int64_t count = 0;
};

class JobCounts {
public:
    // Replaces every count (at start-up, from what the store keeps).
    void reset(const std::vector<JobCount>& counts);

    void apply(const JobChanges& changes);

    // Jobs in each state of one queue and type (0 where none).
    StateCounts of(std::string_view queue, std::string_view type) const;

    // Every (state, queue, type) with at least one job, ordered by queue, type, state.
    std::vector<JobCount> snapshot() const;

    // Jobs in each state of every queue with a job (all its types), handed to fn(queue,
    // counts) in name order under the lock, without a copy: the claims read it every
    // round. fn must not call back into this.
    template <class Fn>
    void for_each_queue(Fn&& fn) const {
        const std::lock_guard lock(mutex_);
        for (const auto& [queue, types] : by_queue_) {
            StateCounts sum{};
            for (const auto& [type, counts] : types)
                for (std::size_t i = 0; i < job_state_count; ++i) sum[i] += counts[i];
            fn(std::string_view(queue), sum);
        }
    }

private:
    using ByType = std::map<std::string, StateCounts, std::less<>>;
    mutable std::mutex mutex_;
    std::map<std::string, ByType, std::less<>> by_queue_;  // guarded by mutex_
};

}  // namespace jobq::core
