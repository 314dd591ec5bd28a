#include "core/retry_policy.hpp"

#include <boost/test/unit_test.hpp>

using namespace jobq::core;

BOOST_AUTO_TEST_SUITE(retry_policy)

BOOST_AUTO_TEST_CASE(window_doubles_per_retry_up_to_the_cap) {
    const RetryPolicy policy({1'000, 10'000}, 1);
    BOOST_TEST(policy.window(1) == 1'000);
    BOOST_TEST(policy.window(2) == 2'000);
    BOOST_TEST(policy.window(3) == 4'000);
    BOOST_TEST(policy.window(4) == 8'000);
    BOOST_TEST(policy.window(5) == 10'000);
    BOOST_TEST(policy.window(1'000) == 10'000);  // no overflow however many retries
}

BOOST_AUTO_TEST_CASE(delays_are_drawn_from_the_whole_window) {
    RetryPolicy policy({1'000, 3'600'000}, 42);
    millis smallest = 1'000'000, largest = 0;
    for (int i = 0; i < 2'000; ++i) {
        const millis d = policy.next_delay(3);
        BOOST_TEST_REQUIRE(d >= 0);
        BOOST_TEST_REQUIRE(d <= 4'000);
        smallest = std::min(smallest, d);
        largest = std::max(largest, d);
    }
    // Full jitter: both ends of [0, 4000] are reached, not just the top.
    BOOST_TEST(smallest < 400);
    BOOST_TEST(largest > 3'600);
}

BOOST_AUTO_TEST_CASE(same_seed_same_delays) {
    RetryPolicy a({100, 100'000}, 7), b({100, 100'000}, 7);
    for (int retry = 1; retry < 20; ++retry) BOOST_TEST(a.next_delay(retry) == b.next_delay(retry));
}

BOOST_AUTO_TEST_CASE(zero_base_means_immediate_retry) {
    RetryPolicy policy({0, 0}, 3);
    BOOST_TEST(policy.next_delay(5) == 0);
}

BOOST_AUTO_TEST_SUITE_END()
