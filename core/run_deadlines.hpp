#pragma once
// The deadlines of the runs in progress, enforced by one timer for all of them.
//
// A run registers at its start (a Run, in the running coroutine's frame) and leaves at
// its end; the timer sleeps until the earliest deadline and cancels the runs past it
// through their cancellation signals. Every run gets the same timeout, so deadlines come
// in the order runs start: the list is kept sorted by appending, with no search and no
// allocation, and a busy engine arms no timer per run.
//
// Strand-confined: construct, register, enforce and stop on the engine's strand.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>

namespace jobq::core {

class RunDeadlines {
public:
    using time_point = std::chrono::steady_clock::time_point;

    class Run {
    public:
        Run(RunDeadlines& owner, time_point deadline);
        Run(const Run&) = delete;
        Run& operator=(const Run&) = delete;
        ~Run();

        // Bind the run's operation to it: cancelled when the deadline passes.
        boost::asio::cancellation_slot slot() { return signal_.slot(); }
        // Whether the deadline (or cancel_all) cancelled it.
        bool cancelled() const { return cancelled_; }

    private:
        friend class RunDeadlines;
        RunDeadlines& owner_;
        time_point deadline_;
        boost::asio::cancellation_signal signal_;
        bool cancelled_ = false;
        Run* previous_ = nullptr;
        Run* next_ = nullptr;
    };

    explicit RunDeadlines(boost::asio::any_io_executor strand);
    RunDeadlines(const RunDeadlines&) = delete;
    RunDeadlines& operator=(const RunDeadlines&) = delete;

    // The timer's loop: runs until stop().
    boost::asio::awaitable<void> enforce();
    void stop();

    // Cancels every run in progress now (shutdown past its deadline).
    void cancel_all();

private:
    void link(Run& run);
    void unlink(Run& run);
    void cancel(Run& run);

    boost::asio::steady_timer timer_;
    Run* first_ = nullptr;  // the earliest deadline
    Run* last_ = nullptr;
    bool stopped_ = false;
};

}  // namespace jobq::core
