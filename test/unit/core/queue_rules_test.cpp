// core::QueueRules: pause, concurrency, rate limits and weights as a claim round obeys
// them, with a pretend store (a backlog count per queue) in place of the database. That
// the stores and the engine obey them end to end: integration/queues.
#include "core/queue_rules.hpp"

#include <boost/test/unit_test.hpp>

#include <map>
#include <string>
#include <vector>

using namespace jobq;
using core::QueueLoad;
using core::QueueRules;
using core::QueueSettings;

namespace {

constexpr core::millis t0 = 1'800'000'000'000;

// Runnable jobs per queue, taken by claims through the rules.
struct Backlog {
    std::map<std::string, std::int64_t> runnable;
    std::map<std::string, std::int64_t> processing;

    std::vector<QueueLoad> loads() const {
        std::vector<QueueLoad> out;
        for (const auto& [queue, n] : runnable)
            if (n > 0) out.push_back({queue, n, processing.count(queue) ? processing.at(queue) : 0});
        return out;
    }

    // Jobs started per queue by one claim of up to `free`.
    std::map<std::string, std::int64_t> claim(QueueRules& rules, std::size_t free, core::millis now) {
        const auto taken = core::take_by_rules(rules, QueueRules::Claimer::built_in, false, free, loads(), now, [&](const std::string& queue, std::size_t n) {
            const auto got = std::min<std::int64_t>(static_cast<std::int64_t>(n), runnable[queue]);
            runnable[queue] -= got;
            processing[queue] += got;
            return std::vector<std::string>(static_cast<std::size_t>(got), queue);
        });
        std::map<std::string, std::int64_t> started;
        for (const auto& queue : taken) ++started[queue];
        return started;
    }
};

QueueSettings weight(std::int32_t w) {
    QueueSettings s;
    s.weight = w;
    return s;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(queue_rules)

BOOST_AUTO_TEST_CASE(free_workers_are_shared_in_proportion_to_the_weights) {
    QueueRules rules;
    rules.set("heavy", weight(3));
    Backlog backlog{{{"heavy", 100'000}, {"light", 100'000}}, {}};
    std::map<std::string, std::int64_t> started;
    for (int round = 0; round < 100; ++round)
        for (const auto& [queue, n] : backlog.claim(rules, 7, t0)) started[queue] += n;
    BOOST_TEST(started["heavy"] + started["light"] == 700);
    // 3:1 (525:175) to within a turn: a round of 7 is one queue's turn.
    BOOST_TEST(std::abs(started["heavy"] - 525) <= 7);
}

// Steady state: a worker finishes, one job is claimed. Each queue still gets its share.
BOOST_AUTO_TEST_CASE(claims_of_one_job_share_by_weight_too) {
    QueueRules rules;
    rules.set("heavy", weight(3));
    Backlog backlog{{{"heavy", 100'000}, {"light", 100'000}, {"other", 100'000}}, {}};
    std::map<std::string, std::int64_t> started;
    for (int round = 0; round < 1'000; ++round)
        for (const auto& [queue, n] : backlog.claim(rules, 1, t0)) started[queue] += n;
    // 600:200:200, to within a round (a job) each.
    BOOST_TEST(std::abs(started["heavy"] - 600) <= 1);
    BOOST_TEST(std::abs(started["light"] - 200) <= 1);
    BOOST_TEST(std::abs(started["other"] - 200) <= 1);
}

BOOST_AUTO_TEST_CASE(a_queue_that_runs_out_gives_its_share_to_the_others) {
    QueueRules rules;
    Backlog backlog{{{"a", 2}, {"b", 1'000}, {"c", 1'000}}, {}};
    const auto started = backlog.claim(rules, 10, t0);
    BOOST_TEST(started.at("a") == 2);
    BOOST_TEST(started.count("b") + started.count("c") == 1u);  // the rest, a turn
    BOOST_TEST(started.begin()->second + std::next(started.begin())->second == 10);
    std::map<std::string, std::int64_t> later;
    for (int round = 0; round < 100; ++round)
        for (const auto& [queue, n] : backlog.claim(rules, 10, t0)) later[queue] += n;
    BOOST_TEST(later.count("a") == 0u);
    BOOST_TEST(std::abs(later["b"] - later["c"]) <= 20);  // a queue may run a round ahead, and be in its turn
}

// The loads are an upper bound (queued counts include jobs not yet due): a queue whose
// store gives fewer than asked is passed over for the rest of the round.
BOOST_AUTO_TEST_CASE(a_queue_that_gives_fewer_than_counted_is_passed_over) {
    QueueRules rules;
    std::vector<QueueLoad> loads = {{"delayed", 1'000, 0}, {"ready", 1'000, 0}};
    std::map<std::string, std::size_t> asked;
    const auto taken = core::take_by_rules(rules, QueueRules::Claimer::built_in, false, 10, loads, t0, [&](const std::string& queue, std::size_t n) {
        asked[queue] += n;
        return queue == "delayed" ? std::vector<int>() : std::vector<int>(n, 1);
    });
    BOOST_TEST(taken.size() == 10u);
    BOOST_TEST(asked["delayed"] == 10u);  // asked once, its turn
    BOOST_TEST(asked["ready"] == 10u);
}

BOOST_AUTO_TEST_CASE(a_queue_with_a_backlog_delays_another_by_at_most_one_round) {
    QueueRules rules;
    Backlog backlog{{{"bulk", 1'000'000}}, {}};
    for (int round = 0; round < 1'000; ++round) backlog.claim(rules, 8, t0);
    backlog.runnable["tx"] = 3;
    // The idle queue joins level with the busy one: the busy one may finish its turn (a
    // round at most), then the newcomer's jobs start, not behind a million others.
    std::map<std::string, std::int64_t> started;
    for (int round = 0; round < 2; ++round)
        for (const auto& [queue, n] : backlog.claim(rules, 8, t0)) started[queue] += n;
    BOOST_TEST(started["tx"] == 3);
    BOOST_TEST(started["bulk"] == 13);
    // Then, with a backlog of its own, it has no more than its equal share (having saved
    // up no credit while idle).
    backlog.runnable["tx"] = 1'000;
    std::map<std::string, std::int64_t> later;
    for (int round = 0; round < 100; ++round)
        for (const auto& [queue, n] : backlog.claim(rules, 8, t0)) later[queue] += n;
    BOOST_TEST(std::abs(later["tx"] - later["bulk"]) <= 16);  // a round ahead, and a round in its turn
}

// With many queues backlogged, a queue's turn goes on for a few rounds (its pages stay
// in the caches), and still each has its share, and a queue that comes starts at once.
BOOST_AUTO_TEST_CASE(with_many_queues_a_turn_goes_on_for_a_few_rounds) {
    QueueRules rules;
    Backlog backlog;
    for (int q = 10; q < 30; ++q) {
        std::string name = "q";  // appended: GCC 12 warns (wrongly) on "q" + std::to_string(q)
        name += std::to_string(q);
        backlog.runnable[name] = 1'000'000;
    }
    std::map<std::string, std::int64_t> started;
    std::string previous;
    int repeats = 0;
    for (int round = 0; round < 2'000; ++round) {
        const auto took = backlog.claim(rules, 10, t0);
        BOOST_TEST_REQUIRE(took.size() == 1u);  // a round is one queue's turn
        repeats += took.begin()->first == previous;
        previous = took.begin()->first;
        started[previous] += took.begin()->second;
    }
    BOOST_TEST(repeats > 1'000);  // most rounds go on with the last one's queue
    for (const auto& [queue, n] : started) BOOST_TEST(std::abs(n - 1'000) <= 90, queue);  // 9 rounds of 10

    backlog.runnable["r"] = 5;  // sorts last: not a tie-break's luck
    const auto next = backlog.claim(rules, 10, t0);
    BOOST_TEST(next.at("r") == 5);
}

BOOST_AUTO_TEST_CASE(a_paused_queue_gives_nothing) {
    QueueRules rules;
    QueueSettings paused;
    paused.paused = true;
    rules.set("held", paused);
    Backlog backlog{{{"held", 10}, {"other", 3}}, {}};
    const auto started = backlog.claim(rules, 10, t0);
    BOOST_TEST(started.count("held") == 0u);
    BOOST_TEST(started.at("other") == 3);
    rules.set("held", QueueSettings{});
    BOOST_TEST(backlog.claim(rules, 10, t0).at("held") == 10);
    BOOST_TEST(rules.all().empty());  // default settings are forgotten
}

BOOST_AUTO_TEST_CASE(a_concurrency_limit_counts_the_jobs_processing) {
    QueueRules rules;
    QueueSettings limited;
    limited.concurrency = 3;
    rules.set("q", limited);
    BOOST_TEST(rules.limits_concurrency("q"));
    BOOST_TEST(!rules.limits_concurrency("other"));
    Backlog backlog{{{"q", 100}}, {{"q", 1}}};
    BOOST_TEST(backlog.claim(rules, 10, t0).at("q") == 2);
    BOOST_TEST(backlog.claim(rules, 10, t0).empty());
    backlog.processing["q"] = 0;  // all three finished
    BOOST_TEST(backlog.claim(rules, 10, t0).at("q") == 3);
}

BOOST_AUTO_TEST_CASE(a_rate_limit_spends_tokens_and_says_when_the_next_comes) {
    QueueRules rules;
    QueueSettings limited;
    limited.rate_limit = core::RateLimit{20, 5};
    rules.set("q", limited);
    Backlog backlog{{{"q", 1'000}}, {}};
    BOOST_TEST(backlog.claim(rules, 100, t0).at("q") == 5);  // the burst
    // Its last token spent with jobs left: whoever claims waits for the next one.
    BOOST_TEST(rules.next_token_at(QueueRules::Claimer::built_in).value() == t0 + 50);
    BOOST_TEST(!rules.next_token_at(QueueRules::Claimer::external).has_value());  // leases have their own waits
    BOOST_TEST(backlog.claim(rules, 100, t0).empty());
    BOOST_TEST(rules.next_token_at(QueueRules::Claimer::built_in).value() == t0 + 50);  // one token every 50 ms
    BOOST_TEST(backlog.claim(rules, 100, t0 + 49).empty());
    BOOST_TEST(backlog.claim(rules, 100, t0 + 50).at("q") == 1);
    BOOST_TEST(backlog.claim(rules, 100, t0 + 1'050).at("q") == 5);  // refilled up to the burst only
    // Over a long stretch, the rate: 20 a second.
    std::int64_t started = 0;
    for (core::millis t = t0 + 1'055; t <= t0 + 11'050; t += 5)
        for (const auto& [queue, n] : backlog.claim(rules, 100, t)) started += n;
    BOOST_TEST(started == 200);
}

BOOST_AUTO_TEST_CASE(a_wait_for_a_token_ends_when_the_limit_is_lifted) {
    QueueRules rules;
    QueueSettings limited;
    limited.rate_limit = core::RateLimit{1, 1};
    rules.set("q", limited);
    Backlog backlog{{{"q", 10}}, {}};
    backlog.claim(rules, 10, t0);
    backlog.claim(rules, 10, t0);
    BOOST_TEST(rules.next_token_at(QueueRules::Claimer::built_in).has_value());
    rules.set("q", QueueSettings{});
    BOOST_TEST(!rules.next_token_at(QueueRules::Claimer::built_in).has_value());
    BOOST_TEST(backlog.claim(rules, 10, t0).at("q") == 9);
}

BOOST_AUTO_TEST_CASE(a_wait_for_a_token_that_came_is_forgotten_at_the_next_round) {
    QueueRules rules;
    QueueSettings limited;
    limited.rate_limit = core::RateLimit{10, 1};
    rules.set("q", limited);
    Backlog backlog{{{"q", 2}}, {}};
    backlog.claim(rules, 10, t0);
    backlog.claim(rules, 10, t0);
    BOOST_TEST(rules.next_token_at(QueueRules::Claimer::built_in).value() == t0 + 100);
    backlog.runnable["q"] = 0;  // cancelled meanwhile: nothing to wait for
    backlog.claim(rules, 10, t0 + 100);
    BOOST_TEST(!rules.next_token_at(QueueRules::Claimer::built_in).has_value());  // no wake-up left in the past
}

BOOST_AUTO_TEST_CASE(loads_add_the_transaction_under_way_to_the_kept_counts) {
    core::JobCounts counts;
    counts.reset({{core::JobState::queued, "a", "noop", 5}, {core::JobState::processing, "a", "email", 2},
                  {core::JobState::done, "b", "noop", 7}});
    core::JobChanges pending;
    pending.moved("a", "noop", core::JobState::queued, core::JobState::processing);
    pending.moved("c", "noop", std::nullopt, core::JobState::queued);
    const auto loads = core::queue_loads(counts, pending, {});
    BOOST_TEST_REQUIRE(loads.size() == 2u);  // b has no queued job
    BOOST_TEST(loads[0].queue == "a");
    BOOST_TEST(loads[0].queued == 4);
    BOOST_TEST(loads[0].processing == 3);
    BOOST_TEST(loads[1].queue == "c");
    BOOST_TEST(core::queue_loads(counts, pending, {"c"}).size() == 1u);
}

// Leases and built-in claims keep their shares apart: external workers leasing fast from
// one queue move nothing of the built-in queues' standing (nor does a lease that asks for
// some queues only).
BOOST_AUTO_TEST_CASE(one_claimers_rounds_leave_the_others_shares_alone) {
    QueueRules rules;
    rules.set("heavy", weight(3));
    Backlog backlog{{{"heavy", 100'000}, {"light", 100'000}}, {}};
    std::map<std::string, std::int64_t> started;
    for (int round = 0; round < 1'000; ++round) {
        for (const auto& [queue, n] : backlog.claim(rules, 1, t0)) started[queue] += n;
        const std::vector<QueueLoad> leasable = {{"ext", 1'000'000, 0}};
        core::take_by_rules(rules, QueueRules::Claimer::external, round % 2 == 0, 100, leasable, t0,
                            [](const std::string&, std::size_t n) { return std::vector<int>(n, 1); });
    }
    BOOST_TEST(std::abs(started["heavy"] - 750) <= 1);
    BOOST_TEST(std::abs(started["light"] - 250) <= 1);
}

// Regression: a job stored earlier in the claim's own transaction, in a queue whose one
// job allowed is processing and none was queued, made its load {queued 1, processing 0}.
BOOST_AUTO_TEST_CASE(a_queue_whose_first_queued_job_is_in_the_transaction_keeps_its_processing) {
    core::JobCounts counts;
    counts.reset({{core::JobState::processing, "x", "noop", 1}});
    core::JobChanges pending;
    pending.moved("x", "noop", std::nullopt, core::JobState::queued);
    const auto loads = core::queue_loads(counts, pending, {});
    BOOST_TEST_REQUIRE(loads.size() == 1u);
    BOOST_TEST(loads[0].queued == 1);
    BOOST_TEST(loads[0].processing == 1);
    QueueRules rules;
    QueueSettings one;
    one.concurrency = 1;
    rules.set("x", one);
    const auto taken = core::take_by_rules(rules, QueueRules::Claimer::built_in, false, 10, loads, t0,
                                           [](const std::string&, std::size_t n) { return std::vector<int>(n, 1); });
    BOOST_TEST(taken.empty());
}

BOOST_AUTO_TEST_SUITE_END()
