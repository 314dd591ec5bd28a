// core::JobChanges, core::JobCounts and core::JobHistory: the arithmetic of the kept counts
// and of the per-second history (that a store keeps them in step with its jobs:
// job_admin_contract/kept_counts_equal_a_count_over_the_jobs_after_every_change).
#include "core/job_counts.hpp"
#include "core/job_history.hpp"

#include <boost/test/unit_test.hpp>

#include <memory>
#include <sstream>

using namespace jobq;
using core::JobEvent;
using core::JobState;

namespace {

constexpr std::int64_t second0 = 1'800'000'000;

std::int64_t at(const core::HistoryWindow::Series& series, JobEvent event, std::size_t i) {
    return series[static_cast<std::size_t>(event)].at(i);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(job_counts)

BOOST_AUTO_TEST_CASE(changes_add_up_per_queue_and_type_and_forget_what_reaches_zero) {
    core::JobCounts counts;
    counts.reset({{JobState::done, "default", "noop", 5}});
    core::JobChanges changes;
    changes.moved("default", "noop", std::nullopt, JobState::queued, JobEvent::enqueued, 2);
    changes.moved("default", "noop", JobState::queued, JobState::processing, JobEvent::started);
    changes.moved("mail", "email", std::nullopt, JobState::queued, JobEvent::enqueued);
    changes.moved("default", "noop", JobState::done, std::nullopt, std::nullopt, 5);  // retention
    BOOST_TEST(changes.moves().size() == 2u);  // one entry per queue and type
    counts.apply(changes);

    const auto noop = counts.of("default", "noop");
    BOOST_TEST(noop[static_cast<std::size_t>(JobState::queued)] == 1);
    BOOST_TEST(noop[static_cast<std::size_t>(JobState::processing)] == 1);
    BOOST_TEST(noop[static_cast<std::size_t>(JobState::done)] == 0);
    BOOST_TEST(counts.snapshot().size() == 3u);  // done is gone: no zero is listed

    core::JobChanges more;
    more.moved("mail", "email", JobState::queued, std::nullopt);
    counts.apply(more);
    BOOST_TEST(counts.of("mail", "email") == core::StateCounts{});
    for (const auto& c : counts.snapshot()) BOOST_TEST(c.queue == "default");
}

BOOST_AUTO_TEST_CASE(a_move_to_the_same_state_changes_no_count_but_its_event_counts) {
    core::JobChanges changes;
    changes.moved("q", "t", JobState::queued, JobState::queued, JobEvent::retried);
    BOOST_TEST(changes.moves().empty());
    BOOST_TEST_REQUIRE(changes.events().size() == 1u);
    BOOST_TEST(changes.events()[0].counts[static_cast<std::size_t>(JobEvent::retried)] == 1);
}

BOOST_AUTO_TEST_CASE(history_counts_each_second_over_all_queues_and_per_queue) {
    auto history = std::make_unique<core::JobHistory>();
    core::JobChanges a;
    a.moved("default", "noop", std::nullopt, JobState::queued, JobEvent::enqueued, 3);
    a.moved("mail", "email", JobState::processing, JobState::done, JobEvent::done);
    history->record(a, second0);
    history->record(a, second0);
    history->record(a, second0 + 2);

    const auto window = history->window(4, second0 + 3);
    BOOST_TEST(window.first_second == second0);
    BOOST_TEST(window.seconds == 4u);
    BOOST_TEST(at(window.totals, JobEvent::enqueued, 0) == 6);
    BOOST_TEST(at(window.totals, JobEvent::enqueued, 1) == 0);
    BOOST_TEST(at(window.totals, JobEvent::enqueued, 2) == 3);
    BOOST_TEST(at(window.totals, JobEvent::enqueued, 3) == 0);  // the current second, nothing yet
    BOOST_TEST(at(window.totals, JobEvent::done, 0) == 2);
    BOOST_TEST_REQUIRE(window.queues.count("mail") == 1u);
    BOOST_TEST(at(window.queues.at("mail"), JobEvent::done, 2) == 1);
    BOOST_TEST(at(window.queues.at("mail"), JobEvent::enqueued, 2) == 0);
    BOOST_TEST(at(window.queues.at("default"), JobEvent::enqueued, 0) == 6);
    BOOST_TEST(window.every_queue);
}

BOOST_AUTO_TEST_CASE(history_forgets_a_second_an_hour_later_and_clamps_the_window) {
    auto history = std::make_unique<core::JobHistory>();
    core::JobChanges a;
    a.moved("default", "noop", std::nullopt, JobState::queued, JobEvent::enqueued);
    history->record(a, second0);
    const auto span = static_cast<std::int64_t>(core::JobHistory::span_seconds);
    // The same slot, an hour later: the old second's count is not added to the new one's.
    history->record(a, second0 + span);
    auto window = history->window(1, second0 + span);
    BOOST_TEST(at(window.totals, JobEvent::enqueued, 0) == 1);
    // Asked for more than the span: the span.
    window = history->window(10 * core::JobHistory::span_seconds, second0 + span);
    BOOST_TEST(window.seconds == core::JobHistory::span_seconds);
    BOOST_TEST(at(window.totals, JobEvent::enqueued, 0) == 0);  // second0 is out of the window
    BOOST_TEST(at(window.totals, JobEvent::enqueued, core::JobHistory::span_seconds - 1) == 1);
}

BOOST_AUTO_TEST_CASE(history_keeps_a_bounded_number_of_queues_apart_and_says_so) {
    auto history = std::make_unique<core::JobHistory>();
    core::JobChanges many;
    for (std::size_t i = 0; i <= core::JobHistory::max_queues; ++i) {
        std::ostringstream queue;  // not "q" + std::to_string(i): GCC 12 warns falsely of an overflow
        queue << 'q' << i;
        many.moved(queue.str(), "noop", std::nullopt, JobState::queued, JobEvent::enqueued);
    }
    history->record(many, second0);
    auto window = history->window(2, second0 + 1);
    BOOST_TEST(window.queues.size() == core::JobHistory::max_queues);
    BOOST_TEST(!window.every_queue);
    BOOST_TEST(at(window.totals, JobEvent::enqueued, 0) == static_cast<std::int64_t>(core::JobHistory::max_queues + 1));

    // An hour on, a quiet queue gives its place to a new one, and the window is whole again.
    const auto later = second0 + static_cast<std::int64_t>(core::JobHistory::span_seconds);
    core::JobChanges one;
    one.moved("new", "noop", std::nullopt, JobState::queued, JobEvent::enqueued);
    history->record(one, later);
    window = history->window(1, later);
    BOOST_TEST(window.queues.count("new") == 1u);
    BOOST_TEST(window.every_queue);
}

BOOST_AUTO_TEST_SUITE_END()
