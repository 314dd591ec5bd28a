#pragma once
// Runs a coroutine to completion on an io_context, with a deadline, from a test body.

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include <chrono>
#include <stdexcept>

namespace jobq::test {

template <class T>
T run_awaitable(boost::asio::io_context& io, boost::asio::awaitable<T> task,
                std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    auto result = boost::asio::co_spawn(io, std::move(task), boost::asio::use_future);
    io.restart();
    io.run_for(timeout);
    if (result.wait_for(std::chrono::seconds(0)) != std::future_status::ready)
        throw std::runtime_error("coroutine did not finish before its deadline");
    return result.get();
}

// The same, returning as soon as `task` has finished, while other work on `io` (a
// detached coroutine, say) is still under way.
template <class T>
T run_until_done(boost::asio::io_context& io, boost::asio::awaitable<T> task,
                 std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    auto result = boost::asio::co_spawn(io, std::move(task), boost::asio::use_future);
    io.restart();
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (result.wait_for(std::chrono::seconds(0)) != std::future_status::ready) {
        const auto now = std::chrono::steady_clock::now();
        if (now >= deadline) throw std::runtime_error("coroutine did not finish before its deadline");
        // The task's work guard keeps `io` busy until it ends: this waits, it does not spin.
        io.run_one_for(deadline - now);
    }
    return result.get();
}

}  // namespace jobq::test
