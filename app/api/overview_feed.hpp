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
    // An event this recent is sent again rather than computed anew.
    static constexpr std::chrono::milliseconds reuse_within{500};

    using Clock = std::chrono::steady_clock;

    // A place among the open streams, given back when the last copy is destroyed; none
    // when max_streams are open.
    using Slot = std::shared_ptr<void>;
    Slot open_stream() {
        if (open_.fetch_add(1) >= max_streams) {
            --open_;
            return nullptr;
        }
        return Slot(this, [](OverviewFeed* feed) { --feed->open_; });
    }

    std::optional<std::string> recent(Clock::time_point now) const {
        std::lock_guard lock(mutex_);
        if (event_.empty() || now - made_at_ > reuse_within) return std::nullopt;
        return event_;
    }

    void keep(std::string event, Clock::time_point made_at) {
        std::lock_guard lock(mutex_);
        event_ = std::move(event);
        made_at_ = made_at;
    }

private:
    std::atomic<std::size_t> open_{0};
    mutable std::mutex mutex_;
    std::string event_;            // guarded by mutex_
    Clock::time_point made_at_{};  // guarded by mutex_
};

}  // namespace jobq::app
