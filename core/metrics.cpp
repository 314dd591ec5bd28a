#include "core/metrics.hpp"

#include <algorithm>

namespace jobq::core {

Histogram::Histogram(std::vector<std::uint64_t> upper_bounds, double scale)
    : bounds_(std::move(upper_bounds)),
      buckets_(std::make_unique<std::atomic<std::uint64_t>[]>(bounds_.size() + 1)),
      scale_(scale) {}

void Histogram::observe(std::uint64_t value) {
    const auto bucket = std::lower_bound(bounds_.begin(), bounds_.end(), value) - bounds_.begin();
    buckets_[static_cast<std::size_t>(bucket)].fetch_add(1, std::memory_order_relaxed);
    sum_.fetch_add(value, std::memory_order_relaxed);
}

std::optional<double> estimate_quantile(const Histogram& histogram, double q) {
    const auto& bounds = histogram.upper_bounds();
    std::vector<std::uint64_t> counts(bounds.size() + 1);
    std::uint64_t total = 0;
    for (std::size_t i = 0; i < counts.size(); ++i) total += counts[i] = histogram.bucket(i);
    if (total == 0) return std::nullopt;
    const double rank = std::clamp(q, 0.0, 1.0) * static_cast<double>(total);
    double below = 0;
    for (std::size_t i = 0; i < bounds.size(); ++i) {
        const auto in_bucket = static_cast<double>(counts[i]);
        if (in_bucket > 0 && below + in_bucket >= rank) {
            const double lower = i == 0 ? 0.0 : static_cast<double>(bounds[i - 1]);
            const double upper = static_cast<double>(bounds[i]);
            return lower + (upper - lower) * (rank - below) / in_bucket;
        }
        below += in_bucket;
    }
    return static_cast<double>(bounds.back());
}

std::vector<std::uint64_t> latency_buckets_us() {
    return {100, 250, 500, 1'000, 2'500, 5'000, 10'000, 25'000, 50'000, 100'000, 250'000, 500'000,
            1'000'000, 2'500'000, 5'000'000, 10'000'000, 30'000'000, 60'000'000};
}

}  // namespace jobq::core
