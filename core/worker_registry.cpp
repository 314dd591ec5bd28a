#include "core/worker_registry.hpp"

#include <algorithm>

namespace jobq::core {

void WorkerRegistry::seen(const std::string& name, millis now) {
    std::lock_guard lock(mutex_);
    if (auto it = last_seen_.find(name); it != last_seen_.end()) {
        it->second = std::max(it->second, now);
        return;
    }
    if (last_seen_.size() >= max_workers) {
        // A linear pass, only when a new name meets a full registry.
        const auto oldest = std::min_element(last_seen_.begin(), last_seen_.end(),
                                             [](const auto& a, const auto& b) { return a.second < b.second; });
        last_seen_.erase(oldest);
    }
    last_seen_.emplace(name, now);
}

std::vector<SeenWorker> WorkerRegistry::seen_since(millis since) const {
    std::lock_guard lock(mutex_);
    std::vector<SeenWorker> out;
    for (const auto& [name, at] : last_seen_)
        if (at >= since) out.push_back({name, at});
    return out;
}

}  // namespace jobq::core
