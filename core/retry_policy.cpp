#include "core/retry_policy.hpp"

#include <algorithm>

namespace jobq::core {

RetryPolicy::RetryPolicy(RetryPolicyOptions options, std::uint64_t seed)
    : options_(options), rng_(seed) {}

millis RetryPolicy::window(std::int32_t retry) const {
    const millis base = std::max<millis>(options_.base_delay_ms, 0);
    const millis cap = std::max<millis>(options_.max_delay_ms, 0);
    millis w = base;
    // Doubling stops at the cap, so this never overflows however large `retry` is.
    for (std::int32_t i = 1; i < retry && w < cap; ++i) w *= 2;
    return std::min(w, cap);
}

millis RetryPolicy::next_delay(std::int32_t retry) {
    std::uniform_int_distribution<millis> pick(0, window(retry));
    return pick(rng_);
}

}  // namespace jobq::core
