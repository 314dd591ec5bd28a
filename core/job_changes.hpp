#pragma once
// What one committed write did to the jobs, as the kept counts (core::JobCounts) and the
// per-second history (core::JobHistory) need it: jobs moved between states, per queue and
// type, and the events a throughput chart shows. A store fills one per transaction, on
// the thread that writes, and hands it to both once the transaction has committed; a
// transaction that rolls back throws its changes away.

#include "core/job.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace jobq::core {

inline constexpr std::size_t job_state_count = 5;

// Jobs in each state, indexed by the state's value.
using StateCounts = std::array<std::int64_t, job_state_count>;

// What the history counts per second.
enum class JobEvent { enqueued, started, done, retried, failed };
inline constexpr std::size_t job_event_count = 5;
std::string_view to_string(JobEvent event);

using EventCounts = std::array<std::int64_t, job_event_count>;

class JobChanges {
public:
    // Jobs of one queue and type and how many each state gained (or lost: negative).
    struct Moves {
        std::string queue;
        std::string type;
        StateCounts delta{};
    };
    struct Events {
        std::string queue;
        EventCounts counts{};
    };

    // `count` jobs of `queue` and `type` went from `from` to `to` (nullopt: stored for the
    // first time, or deleted); `event`, if any, is what the history counts for them.
    void moved(std::string_view queue, std::string_view type, std::optional<JobState> from, std::optional<JobState> to,
               std::optional<JobEvent> event = std::nullopt, std::int64_t count = 1);

    const std::vector<Moves>& moves() const { return moves_; }
    const std::vector<Events>& events() const { return events_; }
    bool empty() const { return moves_.empty() && events_.empty(); }
    void clear();

private:
    Moves& moves_of(std::string_view queue, std::string_view type);
    Events& events_of(std::string_view queue);

    // Few entries per transaction (its queues and types): a linear search beats a map.
    std::vector<Moves> moves_;
    std::vector<Events> events_;
};

}  // namespace jobq::core
