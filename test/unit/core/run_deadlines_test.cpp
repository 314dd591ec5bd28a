#include "core/run_deadlines.hpp"

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/test/unit_test.hpp>

#include <functional>
#include <optional>

using namespace std::chrono_literals;
namespace asio = boost::asio;
using jobq::core::RunDeadlines;

namespace {

struct Enforcer {
    asio::io_context io;
    asio::strand<asio::io_context::executor_type> strand = asio::make_strand(io);
    RunDeadlines deadlines{strand};
    bool enforcing = true;

    Enforcer() {
        asio::co_spawn(strand, deadlines.enforce(), [this](std::exception_ptr) { enforcing = false; });
        io.poll();  // it sleeps: nothing runs yet
    }

    // An operation of a run: a long wait that only a cancellation ends early.
    struct Operation {
        asio::steady_timer timer;
        std::optional<boost::system::error_code> ended;
    };
    void start(Operation& op, RunDeadlines::Run& run) {
        op.timer.expires_after(60s);
        op.timer.async_wait(asio::bind_cancellation_slot(
            run.slot(), [&op](boost::system::error_code ec) { op.ended = ec; }));
    }

    bool run_until(const std::function<bool()>& condition) {
        const auto deadline = std::chrono::steady_clock::now() + 10s;
        while (!condition() && std::chrono::steady_clock::now() < deadline) io.run_one_for(10ms);
        return condition();
    }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(run_deadlines)

BOOST_FIXTURE_TEST_CASE(only_runs_past_their_deadline_are_cancelled, Enforcer) {
    const auto now = std::chrono::steady_clock::now();
    // The later deadline registers first: the sooner one still wakes the timer in time.
    RunDeadlines::Run later(deadlines, now + 60s);
    RunDeadlines::Run sooner(deadlines, now + 50ms);
    Operation later_op{asio::steady_timer(strand), {}};
    Operation sooner_op{asio::steady_timer(strand), {}};
    start(later_op, later);
    start(sooner_op, sooner);

    BOOST_TEST_REQUIRE(run_until([&] { return sooner_op.ended.has_value(); }));
    BOOST_TEST(*sooner_op.ended == asio::error::operation_aborted);
    BOOST_TEST(sooner.cancelled());
    BOOST_TEST(!later.cancelled());
    BOOST_TEST(!later_op.ended.has_value());
    BOOST_TEST((std::chrono::steady_clock::now() - now < 5s));

    deadlines.cancel_all();  // a shutdown past its own deadline
    BOOST_TEST_REQUIRE(run_until([&] { return later_op.ended.has_value(); }));
    BOOST_TEST(later.cancelled());

    deadlines.stop();
    BOOST_TEST(run_until([&] { return !enforcing; }));
}

BOOST_FIXTURE_TEST_CASE(a_run_that_ends_in_time_is_left_alone, Enforcer) {
    const auto now = std::chrono::steady_clock::now();
    {
        RunDeadlines::Run finished(deadlines, now + 30ms);
    }
    RunDeadlines::Run running(deadlines, now + 80ms);
    Operation op{asio::steady_timer(strand), {}};
    start(op, running);
    BOOST_TEST_REQUIRE(run_until([&] { return op.ended.has_value(); }));
    BOOST_TEST(running.cancelled());
    BOOST_TEST((std::chrono::steady_clock::now() - now >= 80ms));  // at its own deadline, not the finished one's

    deadlines.stop();
    BOOST_TEST(run_until([&] { return !enforcing; }));
}

BOOST_AUTO_TEST_SUITE_END()
