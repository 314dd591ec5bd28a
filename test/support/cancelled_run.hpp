#pragma once
// Running a coroutine under test and cancelling it at a chosen moment, with deadlines.

#include <boost/asio/awaitable.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <exception>
#include <optional>

namespace jobq::test {

// Runs `io` until `done` holds or `deadline` passes; false at the deadline.
template <class Done>
bool run_io_until(boost::asio::io_context& io, const Done& done, std::chrono::milliseconds deadline) {
    const auto until = std::chrono::steady_clock::now() + deadline;
    while (!done() && std::chrono::steady_clock::now() < until) {
        io.restart();
        io.run_for(std::chrono::milliseconds(10));
    }
    return done();
}

// Spawns `task` on `io` and cancels it (terminal) `after` it started, or before its first
// await when `after` is zero; true when it then ended within `deadline`, however.
template <class T>
bool run_cancelled(boost::asio::io_context& io, boost::asio::awaitable<T> task, std::chrono::milliseconds after,
                   std::chrono::milliseconds deadline = std::chrono::seconds(5)) {
    boost::asio::cancellation_signal cancel;
    bool ended = false;
    boost::asio::co_spawn(io, std::move(task),
                          boost::asio::bind_cancellation_slot(cancel.slot(), [&](std::exception_ptr, auto&&...) {
                              ended = true;
                          }));
    boost::asio::steady_timer timer(io, after);
    if (after == std::chrono::milliseconds(0)) cancel.emit(boost::asio::cancellation_type::terminal);
    else timer.async_wait([&](boost::system::error_code) { cancel.emit(boost::asio::cancellation_type::terminal); });
    return run_io_until(io, [&] { return ended; }, deadline);
}

// Runs `task` to its end within `deadline`: its value, or nullopt (it threw, or did not end).
template <class T>
std::optional<T> run_to_end(boost::asio::io_context& io, boost::asio::awaitable<T> task,
                            std::chrono::milliseconds deadline = std::chrono::seconds(10)) {
    std::optional<T> value;
    bool ended = false;
    boost::asio::co_spawn(io, std::move(task), [&](std::exception_ptr e, T result) {
        if (!e) value.emplace(std::move(result));
        ended = true;
    });
    run_io_until(io, [&] { return ended; }, deadline);
    return value;
}

}  // namespace jobq::test
