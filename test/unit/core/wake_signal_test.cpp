// core::WakeSignal: what long polls for leases wait on. A notification is never lost
// between a waiter's look and its wait, every waiter wakes, and close() ends every wait.
#include "core/wake_signal.hpp"

#include "run_awaitable.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <memory>
#include <thread>

using namespace jobq;
namespace asio = boost::asio;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

// How long wait(seen, now + limit) took.
asio::awaitable<Clock::duration> timed_wait(core::WakeSignal& signal, std::uint64_t seen, Clock::duration limit) {
    const auto started = Clock::now();
    co_await signal.wait(seen, started + limit);
    co_return Clock::now() - started;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(wake_signal)

BOOST_AUTO_TEST_CASE(a_notification_before_the_wait_is_not_lost) {
    asio::io_context io;
    core::WakeSignal signal;
    const auto seen = signal.generation();
    signal.notify_all();  // between the waiter's look and its wait
    const auto took = test::run_awaitable(io, timed_wait(signal, seen, 10s));
    BOOST_TEST((took < 1s));
}

BOOST_AUTO_TEST_CASE(a_wait_ends_at_its_deadline_without_a_notification) {
    asio::io_context io;
    core::WakeSignal signal;
    const auto took = test::run_awaitable(io, timed_wait(signal, signal.generation(), 100ms));
    BOOST_TEST((took >= 100ms));
    BOOST_TEST((took < 5s));
}

BOOST_AUTO_TEST_CASE(a_notification_from_another_thread_wakes_every_waiter) {
    asio::io_context io;
    core::WakeSignal signal;
    const auto seen = signal.generation();
    auto first = asio::co_spawn(io, timed_wait(signal, seen, 10s), asio::use_future);
    auto second = asio::co_spawn(io, timed_wait(signal, seen, 10s), asio::use_future);
    std::thread notifier([&] {
        std::this_thread::sleep_for(50ms);  // let both waits begin; a late notify is covered above
        signal.notify_all();
    });
    io.run_for(10s);
    notifier.join();
    BOOST_TEST_REQUIRE((first.wait_for(0s) == std::future_status::ready));
    BOOST_TEST_REQUIRE((second.wait_for(0s) == std::future_status::ready));
    BOOST_TEST((first.get() < 5s));
    BOOST_TEST((second.get() < 5s));
}

BOOST_AUTO_TEST_CASE(close_ends_every_wait_and_the_waits_after_it) {
    asio::io_context io;
    core::WakeSignal signal;
    auto waiting = asio::co_spawn(io, timed_wait(signal, signal.generation(), 10s), asio::use_future);
    asio::steady_timer later(io, 50ms);
    later.async_wait([&](auto) { signal.close(); });
    io.run_for(10s);
    BOOST_TEST_REQUIRE((waiting.wait_for(0s) == std::future_status::ready));
    BOOST_TEST((waiting.get() < 5s));
    BOOST_TEST(signal.closed());
    // Closed: a wait returns at once, whatever generation it saw.
    BOOST_TEST((test::run_awaitable(io, timed_wait(signal, signal.generation(), 10s)) < 1s));
}

// A waiting coroutine destroyed with its io_context leaves the signal's list, so a later
// notification touches no freed timer (ASan would say so).
BOOST_AUTO_TEST_CASE(a_wait_destroyed_with_its_io_context_leaves_the_signal) {
    core::WakeSignal signal;
    {
        asio::io_context io;
        asio::co_spawn(io, signal.wait(signal.generation(), Clock::now() + 10s), asio::detached);
        io.run_for(20ms);  // the wait has begun
    }
    signal.notify_all();
    signal.close();
}

BOOST_AUTO_TEST_SUITE_END()
