// core::estimate_quantile (the run times /stats shows) and core::WorkerRegistry (the
// external workers GET /workers lists).
#include "core/metrics.hpp"
#include "core/worker_registry.hpp"

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <string>

using namespace jobq;

BOOST_AUTO_TEST_SUITE(metrics_quantile)

BOOST_AUTO_TEST_CASE(no_observation_has_no_quantile) {
    const core::Histogram h({10, 20}, 1.0);
    BOOST_TEST(!core::estimate_quantile(h, 0.5).has_value());
}

BOOST_AUTO_TEST_CASE(a_quantile_is_interpolated_within_its_bucket) {
    core::Histogram h({100, 200, 400}, 1.0);
    for (int i = 0; i < 10; ++i) h.observe(50);   // (0, 100]
    for (int i = 0; i < 10; ++i) h.observe(150);  // (100, 200]
    // The median is the 10th of 20: the top of the first bucket.
    BOOST_TEST(core::estimate_quantile(h, 0.5).value() == 100.0);
    // The 15th of 20: half way through the second bucket.
    BOOST_TEST(core::estimate_quantile(h, 0.75).value() == 150.0);
    BOOST_TEST(core::estimate_quantile(h, 1.0).value() == 200.0);
    // The first bucket starts at zero.
    BOOST_TEST(core::estimate_quantile(h, 0.25).value() == 50.0);
}

BOOST_AUTO_TEST_CASE(empty_buckets_are_passed_over_and_q_is_clamped) {
    core::Histogram h({100, 200, 400}, 1.0);
    h.observe(300);  // (200, 400]
    BOOST_TEST(core::estimate_quantile(h, 0.5).value() == 300.0);
    BOOST_TEST(core::estimate_quantile(h, -1.0).value() == core::estimate_quantile(h, 0.0).value());
    BOOST_TEST(core::estimate_quantile(h, 2.0).value() == 400.0);
}

BOOST_AUTO_TEST_CASE(beyond_the_last_bound_reads_the_last_bound) {
    core::Histogram h({100, 200}, 1.0);
    h.observe(5'000);
    h.observe(9'000);
    BOOST_TEST(core::estimate_quantile(h, 0.95).value() == 200.0);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(worker_registry)

BOOST_AUTO_TEST_CASE(workers_are_listed_by_name_with_their_last_contact_in_the_window) {
    core::WorkerRegistry registry;
    registry.seen("b", 1'000);
    registry.seen("a", 2'000);
    registry.seen("old", 100);
    registry.seen("b", 3'000);
    registry.seen("b", 2'500);  // a contact out of order never moves it back
    const auto seen = registry.seen_since(1'000);
    BOOST_TEST_REQUIRE(seen.size() == 2u);
    BOOST_TEST(seen[0].name == "a");
    BOOST_TEST(seen[0].last_seen_at == 2'000);
    BOOST_TEST(seen[1].name == "b");
    BOOST_TEST(seen[1].last_seen_at == 3'000);
}

BOOST_AUTO_TEST_CASE(a_full_registry_forgets_the_worker_seen_longest_ago) {
    core::WorkerRegistry registry;
    for (std::size_t i = 0; i < core::WorkerRegistry::max_workers; ++i) {
        std::string name = "w";
        name += std::to_string(i);  // built by appending: GCC 12 warns falsely on "w" + string
        registry.seen(name, static_cast<core::millis>(i + 10));
    }
    registry.seen("w0", 5'000);  // seen again: now the newest
    registry.seen("newcomer", 6'000);
    const auto seen = registry.seen_since(0);
    BOOST_TEST(seen.size() == core::WorkerRegistry::max_workers);
    const auto named = [&](const std::string& name) {
        return std::any_of(seen.begin(), seen.end(), [&](const core::SeenWorker& w) { return w.name == name; });
    };
    BOOST_TEST(named("newcomer"));
    BOOST_TEST(named("w0"));
    BOOST_TEST(!named("w1"));  // the oldest contact once w0 came back
    BOOST_TEST(named("w2"));
}

BOOST_AUTO_TEST_SUITE_END()
