#include "core/wake_signal.hpp"

#include "common/asio_tokens.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>

#include <optional>

namespace jobq::core {

namespace asio = boost::asio;

std::uint64_t WakeSignal::generation() const {
    const std::lock_guard lock(mutex_);
    return generation_;
}

bool WakeSignal::closed() const {
    const std::lock_guard lock(mutex_);
    return closed_;
}

void WakeSignal::notify_all() {
    const std::lock_guard lock(mutex_);
    wake_locked();
}

void WakeSignal::close() {
    const std::lock_guard lock(mutex_);
    closed_ = true;
    wake_locked();
}

void WakeSignal::wake_locked() {
    ++generation_;
    // A timer is cancelled on its own executor (timers are not thread-safe); post never
    // runs the handler inline, so nothing runs under the lock. The waiter is shared with
    // the handler, which may run after its wait has ended.
    for (const auto& waiter : waiters_)
        asio::post(waiter->timer.get_executor(), [waiter] { waiter->timer.cancel(); });
}

asio::awaitable<void> WakeSignal::wait(std::uint64_t seen, std::chrono::steady_clock::time_point deadline) {
    const auto executor = co_await asio::this_coro::executor;
    auto waiter = std::make_shared<Waiter>(executor);
    waiter->timer.expires_at(deadline);
    // Leaves the list however the wait ends, the coroutine's frame destroyed with it too.
    struct Registration {
        Registration(WakeSignal& s, Waiters::iterator i) : signal(s), at(i) {}
        Registration(const Registration&) = delete;
        Registration& operator=(const Registration&) = delete;
        WakeSignal& signal;
        Waiters::iterator at;
        ~Registration() {
            const std::lock_guard lock(signal.mutex_);
            signal.waiters_.erase(at);
        }
    };
    std::optional<Registration> registration;
    {
        const std::lock_guard lock(mutex_);
        if (closed_ || generation_ != seen) co_return;
        registration.emplace(*this, waiters_.insert(waiters_.end(), waiter));
    }
    // Ends at the deadline, or cancelled by a wake-up (an error either way is no failure).
    co_await waiter->timer.async_wait(use_nothrow);
}

}  // namespace jobq::core
