#pragma once
// The external workers seen lately: each name a lease request gave, with when it last
// asked. Kept in memory (a restart forgets them; their leases stay in the store), bounded
// in size, since a name is whatever a client sends. Thread-safe.

#include "core/clock.hpp"

#include <cstddef>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace jobq::core {

struct SeenWorker {
    std::string name;
    millis last_seen_at = 0;
};

class WorkerRegistry {
public:
    // Names kept at most: past it, the one seen longest ago makes room.
    static constexpr std::size_t max_workers = 1000;

    void seen(const std::string& name, millis now);

    // Those seen at `since` or later, by name.
    std::vector<SeenWorker> seen_since(millis since) const;

private:
    mutable std::mutex mutex_;
    std::map<std::string, millis> last_seen_;  // guarded by mutex_
};

}  // namespace jobq::core
