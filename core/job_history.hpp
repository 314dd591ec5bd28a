#pragma once
// What happened in each second of the last hour (jobs enqueued, started, done, retried,
// failed), over all queues and per queue: the data of a throughput chart, kept in memory.
// The store records each committed transaction's events (core::JobChanges) in the second
// it committed: one lock and a few additions per transaction, whatever its size.
// Thread-safe.

#include "core/job_changes.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace jobq::core {

// Per-second counts of consecutive seconds, oldest first; the last is the current second,
// still counting.
struct HistoryWindow {
    using Series = std::array<std::vector<std::int64_t>, job_event_count>;  // indexed by JobEvent

    std::int64_t first_second = 0;  // Unix time of the first value
    std::size_t seconds = 0;
    Series totals;
    std::map<std::string, Series> queues;
    // False when more queues had events than the history keeps apart (max_queues): their
    // events are in the totals only.
    bool every_queue = true;
};

class JobHistory {
public:
    static constexpr std::size_t span_seconds = 3600;
    // Per-queue series kept at most (each ~100 KiB); a queue quiet for the whole span
    // gives its place to a new one.
    static constexpr std::size_t max_queues = 100;

    void record(const JobChanges& changes, std::int64_t unix_second);

    // The last `seconds` (1 to span_seconds) up to `now_second`.
    HistoryWindow window(std::size_t seconds, std::int64_t now_second) const;

private:
    // One slot per second of the span, reused an hour later: a slot holds the counts of
    // the second it is stamped with, or of none.
    struct Ring {
        std::array<std::int64_t, span_seconds> stamp{};
        std::array<std::array<std::uint32_t, job_event_count>, span_seconds> counts{};
        std::int64_t last_second = 0;

        void add(const EventCounts& events, std::int64_t second);
        void read_into(HistoryWindow::Series& series, std::int64_t first_second, std::size_t seconds) const;
    };

    Ring* ring_of(const std::string& queue, std::int64_t second);  // nullptr: not kept apart

    mutable std::mutex mutex_;
    Ring totals_;                                          // guarded by mutex_
    std::map<std::string, std::unique_ptr<Ring>> queues_;  // guarded by mutex_
    std::int64_t last_untracked_ = 0;  // guarded by mutex_: the last second a queue's events went untracked
};

}  // namespace jobq::core
