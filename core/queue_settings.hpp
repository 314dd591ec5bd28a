#pragma once
// A queue's durable settings, and the interface of the store that keeps them. A queue
// exists once a job or a setting names it; one never set has the defaults (runs, no
// limit, weight 1).

#include "core/job.hpp"

#include <boost/asio/awaitable.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>

namespace jobq::core {

// A token bucket on starts: `burst` tokens at most, one more every 1/per_second seconds.
struct RateLimit {
    double per_second = 1;
    std::int64_t burst = 1;
    friend bool operator==(const RateLimit&, const RateLimit&) = default;
};

inline constexpr std::int64_t max_queue_concurrency = 100'000;
inline constexpr std::int32_t max_queue_weight = 1'000;

struct QueueSettings {
    bool paused = false;                       // nothing of it is claimed or leased
    std::optional<std::int64_t> concurrency;   // at most this many processing at once
    std::optional<RateLimit> rate_limit;       // starts per second
    std::int32_t weight = 1;                   // its share of free workers among backlogged queues
    friend bool operator==(const QueueSettings&, const QueueSettings&) = default;
    bool is_default() const { return *this == QueueSettings{}; }
};

// A change of some settings: each member present replaces that setting (an inner nullopt
// removes a limit).
struct QueueSettingsPatch {
    std::optional<bool> paused;
    std::optional<std::optional<std::int64_t>> concurrency;
    std::optional<std::optional<RateLimit>> rate_limit;
    std::optional<std::int32_t> weight;

    QueueSettings applied_to(QueueSettings settings) const {
        if (paused) settings.paused = *paused;
        if (concurrency) settings.concurrency = *concurrency;
        if (rate_limit) settings.rate_limit = *rate_limit;
        if (weight) settings.weight = *weight;
        return settings;
    }
};

using QueueSettingsMap = std::map<std::string, QueueSettings, std::less<>>;

class QueueSettingsStore {
public:
    virtual ~QueueSettingsStore() = default;

    // Applies the patch to the queue's settings in one transaction (durable when it
    // completes) and answers the settings after it. The claims that follow obey them.
    // May throw StorageError.
    virtual boost::asio::awaitable<QueueSettings> update_queue(std::string queue, QueueSettingsPatch patch) = 0;

    // Every queue whose settings differ from the defaults, from memory.
    virtual QueueSettingsMap queue_settings() const = 0;

    // Per queue (or only `only`), the earliest run_at among its jobs due at `now` (queues
    // with none left out): index seeks per queue and priority level. May throw StorageError.
    virtual boost::asio::awaitable<std::map<std::string, millis>> oldest_runnable_by_queue(
        millis now, std::optional<std::string> only = std::nullopt) = 0;
};

}  // namespace jobq::core
