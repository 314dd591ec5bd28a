#pragma once
// Wakes whoever waits for jobs to lease: a long-polling POST /leases waits here until
// jobs may have become leasable (an enqueue, a delayed job coming due, a lease expiring,
// a job released) or its deadline, whichever comes first; it never polls. Thread-safe:
// notify_all() from any thread; each wait on its caller's executor.
//
// A waiter first reads generation(), then looks for jobs, then waits for a generation
// after it: a notification between its look and its wait is not lost. A wait must run on
// a strand (or a one-thread io_context), as every HTTP request does: the wake-up is posted
// to the waiter's executor, so it runs after the wait has begun.

#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>

namespace jobq::core {

class WakeSignal {
public:
    std::uint64_t generation() const;

    // Wakes every waiter.
    void notify_all();

    // At shutdown: wakes every waiter, and every wait from now on returns at once.
    void close();
    bool closed() const;

    // Returns when the generation has moved past `seen` (at once if it has), at
    // `deadline`, or when closed.
    boost::asio::awaitable<void> wait(std::uint64_t seen, std::chrono::steady_clock::time_point deadline);

private:
    struct Waiter {
        explicit Waiter(boost::asio::any_io_executor executor) : timer(std::move(executor)) {}
        boost::asio::steady_timer timer;
    };
    using Waiters = std::list<std::shared_ptr<Waiter>>;

    void wake_locked();

    mutable std::mutex mutex_;
    std::uint64_t generation_ = 0;  // guarded by mutex_
    bool closed_ = false;           // guarded by mutex_
    Waiters waiters_;               // guarded by mutex_
};

}  // namespace jobq::core
