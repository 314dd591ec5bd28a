#pragma once
// How long a job waits before its next attempt after a retryable failure.
//
// Exponential backoff with full jitter: the delay before retry n (n >= 1) is drawn
// uniformly from [0, min(max_delay, base_delay * 2^(n-1))]. Full jitter spreads a
// burst of failures (an SMTP server that was down) over the whole window instead of
// sending them back in lock-step. Deterministic for a given RNG seed.

#include "core/clock.hpp"

#include <cstdint>
#include <random>

namespace jobq::core {

struct RetryPolicyOptions {
    millis base_delay_ms = 1'000;
    millis max_delay_ms = 3'600'000;
};

// Not thread-safe: owned by the engine and used on its strand.
class RetryPolicy {
public:
    explicit RetryPolicy(RetryPolicyOptions options, std::uint64_t seed = std::random_device{}());

    // The ceiling of the jitter window for retry number `retry` (1 for the first retry).
    millis window(std::int32_t retry) const;

    // A delay drawn from [0, window(retry)].
    millis next_delay(std::int32_t retry);

    const RetryPolicyOptions& options() const { return options_; }

private:
    RetryPolicyOptions options_;
    std::mt19937_64 rng_;
};

}  // namespace jobq::core
