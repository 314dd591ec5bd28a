#pragma once
// Claimed jobs waiting for a worker. Strand-confined: every member must be called on the
// engine's strand. pop() suspends until a job arrives or the queue is closed.

#include "core/job.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

#include <deque>
#include <optional>

namespace jobq::core {

class ReadyQueue {
public:
    explicit ReadyQueue(boost::asio::any_io_executor strand);

    void push(Job job);

    // After close(), pop() still hands out what is queued, then returns nullopt.
    void close();

    boost::asio::awaitable<std::optional<Job>> pop();

private:
    std::deque<Job> jobs_;
    // Never fires on its own: waiting workers are woken by cancel_one() (a push) or
    // cancel() (close). Its expiry is set once, because re-arming would wake them all.
    boost::asio::steady_timer arrivals_;
    bool closed_ = false;
};

}  // namespace jobq::core
