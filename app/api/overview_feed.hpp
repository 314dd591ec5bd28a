#pragma once
// What every open GET /events shares: the overview event, computed at most once per
// interval whatever the number of dashboards open, and a cap on how many streams are open
// at once (each holds a connection for as long as its page is open). Thread-safe.

#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

namespace jobq::app {

class OverviewFeed {
public:
    static constexpr std::size_t max_streams = 64;
    // An event this recent is sent again rather than computed anew: with each stream's
    // own one-second cadence, the overview is computed about once a second in all.
    static constexpr std::chrono::milliseconds reuse_within{900};

    using Clock = std::chrono::steady_clock;

    // A place among the open streams, given back when the last copy is destroyed; none
    // when max_streams are open. The count it gives back to is shared, so that a stream
    // destroyed after the feed (its frame outliving a shutdown's grace) touches nothing
    // freed.
    using Slot = std::shared_ptr<void>;
    Slot open_stream() {
        auto open = open_;
        for (std::size_t n = open->load(); n < max_streams;)
            if (open->compare_exchange_weak(n, n + 1)) return Slot(open.get(), [open](void*) { --*open; });
        return nullptr;
    }

    std::optional<std::string> recent(Clock::time_point now) const {
        std::lock_guard lock(mutex_);
        if (event_.empty() || now - made_at_ > reuse_within) return std::nullopt;
        return event_;
    }

    // Kept unless a newer one was kept meanwhile.
    void keep(std::string event, Clock::time_point made_at) {
        std::lock_guard lock(mutex_);
        if (made_at < made_at_) return;
        event_ = std::move(event);
        made_at_ = made_at;
    }

private:
    std::shared_ptr<std::atomic<std::size_t>> open_ = std::make_shared<std::atomic<std::size_t>>(0);
    mutable std::mutex mutex_;
    std::string event_;            // guarded by mutex_
    Clock::time_point made_at_{};  // guarded by mutex_
};

}  // namespace jobq::app
