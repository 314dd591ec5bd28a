#include "core/retention.hpp"

#include "wait.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/test/unit_test.hpp>

#include <atomic>
#include <deque>
#include <mutex>
#include <thread>

using namespace jobq;
using core::millis;
namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {

constexpr millis now_ms = 1'800'000'000'000;

// Answers delete_expired from a script (a count, or -1 for a storage failure) and records
// what it was asked.
class ScriptedAdmin final : public core::Maintenance {
public:
    struct Call {
        std::optional<millis> finished_before, failed_before;
        std::size_t limit;
    };

    explicit ScriptedAdmin(std::deque<int> answers) : answers_(std::move(answers)) {}

    asio::awaitable<std::size_t> delete_expired(std::optional<millis> finished_before,
                                                std::optional<millis> failed_before, std::size_t limit) override {
        int answer = 0;
        {
            std::lock_guard lock(mutex_);
            calls_.push_back({finished_before, failed_before, limit});
            if (!answers_.empty()) {
                answer = answers_.front();
                answers_.pop_front();
            }
        }
        if (answer < 0) throw core::StorageError("disk I/O error");
        co_return static_cast<std::size_t>(answer);
    }
    std::vector<Call> calls() const {
        std::lock_guard lock(mutex_);
        return calls_;
    }

private:
    mutable std::mutex mutex_;
    std::deque<int> answers_;
    std::vector<Call> calls_;
};

struct SweeperFixture {
    asio::io_context io;
    asio::executor_work_guard<asio::io_context::executor_type> work = asio::make_work_guard(io);
    std::thread runner;

    void run() { runner = std::thread([this] { io.run(); }); }
    void stop(core::RetentionSweeper& sweeper) {
        asio::co_spawn(io, sweeper.stop(), asio::use_future).get();
        work.reset();
        runner.join();
    }
};

core::RetentionOptions options() {
    core::RetentionOptions o;
    o.finished_ms = 1'000;
    o.failed_ms = 5'000;
    o.sweep_interval = 30ms;
    o.batch = 2;
    o.pause = 1ms;
    return o;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(retention)

BOOST_FIXTURE_TEST_CASE(deletes_in_batches_until_one_is_short_then_waits_for_the_next_sweep, SweeperFixture) {
    // A storage failure first: the sweep after it carries on.
    ScriptedAdmin admin({-1, 2, 2, 1, 0});
    core::RetentionSweeper sweeper(io, admin, options(), [] { return now_ms; });
    sweeper.start();
    run();
    BOOST_TEST_REQUIRE(test::wait_until([&] { return admin.calls().size() >= 5; }, 5s));
    stop(sweeper);
    const auto calls = admin.calls();
    for (const auto& call : calls) {
        BOOST_TEST(call.finished_before.value() == now_ms - 1'000);
        BOOST_TEST(call.failed_before.value() == now_ms - 5'000);
        BOOST_TEST(call.limit == 2u);
    }
}

BOOST_FIXTURE_TEST_CASE(a_rule_turned_off_is_passed_as_none_and_nothing_runs_when_both_are, SweeperFixture) {
    ScriptedAdmin admin({0});
    auto only_finished = options();
    only_finished.failed_ms = std::nullopt;
    core::RetentionSweeper sweeper(io, admin, only_finished, [] { return now_ms; });
    auto off = options();
    off.finished_ms = off.failed_ms = std::nullopt;
    ScriptedAdmin untouched({});
    core::RetentionSweeper idle(io, untouched, off, [] { return now_ms; });
    sweeper.start();
    idle.start();
    run();
    BOOST_TEST_REQUIRE(test::wait_until([&] { return !admin.calls().empty(); }, 5s));
    asio::co_spawn(io, idle.stop(), asio::use_future).get();
    stop(sweeper);
    BOOST_TEST(!admin.calls().front().failed_before.has_value());
    BOOST_TEST(untouched.calls().empty());
}

BOOST_AUTO_TEST_SUITE_END()
