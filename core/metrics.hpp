#pragma once
// Counters and histograms for GET /metrics and GET /stats. Recording is thread-safe and
// cheap: relaxed atomics, and a mutex only to find the series of a label set (a map
// lookup) — never held while a reader formats them. core/ only counts: the Prometheus text
// format is app/'s (app/prometheus), read through the accessors here.

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace jobq::core {

class Counter {
public:
    void add(std::uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
    std::uint64_t value() const { return value_.load(std::memory_order_relaxed); }

private:
    std::atomic<std::uint64_t> value_{0};
};

// Observations are integers in a unit of the caller's choice (microseconds, items);
// `scale` converts them to the unit a reader shows (seconds).
class Histogram {
public:
    Histogram(std::vector<std::uint64_t> upper_bounds, double scale);
    void observe(std::uint64_t value);

    const std::vector<std::uint64_t>& upper_bounds() const { return bounds_; }
    double scale() const { return scale_; }
    // Observations in bucket `i` alone (not cumulative): at most upper_bounds()[i], over
    // the bound before; i == upper_bounds().size() is the +Inf bucket. Each read is atomic
    // on its own: a reader wanting a count consistent with its buckets sums them.
    std::uint64_t bucket(std::size_t i) const { return buckets_[i].load(std::memory_order_relaxed); }
    std::uint64_t sum() const { return sum_.load(std::memory_order_relaxed); }

private:
    std::vector<std::uint64_t> bounds_;
    std::unique_ptr<std::atomic<std::uint64_t>[]> buckets_;  // one per bound, then +Inf
    std::atomic<std::uint64_t> sum_{0};
    double scale_;
};

// A family of series told apart by label values, created on first use.
template <class Series, std::size_t LabelCount>
class Family {
public:
    using Labels = std::array<std::string, LabelCount>;

    explicit Family(std::array<std::string_view, LabelCount> names, std::function<std::unique_ptr<Series>()> make =
                                                                        [] { return std::make_unique<Series>(); })
        : names_(names), make_(std::move(make)) {}

    Series& at(const Labels& values) {
        const std::lock_guard lock(mutex_);
        auto& series = series_[values];
        if (!series) series = make_();
        return *series;
    }

    const std::array<std::string_view, LabelCount>& label_names() const { return names_; }

    // Every series with its label values, in label order. Series live as long as the
    // family, so the pointers may be read after the lock is released (as a response is
    // formatted).
    std::vector<std::pair<Labels, const Series*>> series() const {
        std::vector<std::pair<Labels, const Series*>> snapshot;
        const std::lock_guard lock(mutex_);
        snapshot.reserve(series_.size());
        for (const auto& [values, series] : series_) snapshot.emplace_back(values, series.get());
        return snapshot;
    }

    // Calls fn(label_values, series) for each series, under the family's lock: fn must be
    // quick and must not touch the family.
    template <class Fn>
    void for_each_series(Fn&& fn) const {
        const std::lock_guard lock(mutex_);
        for (const auto& [values, series] : series_) fn(values, *series);
    }

private:
    std::array<std::string_view, LabelCount> names_;
    std::function<std::unique_ptr<Series>()> make_;
    mutable std::mutex mutex_;
    std::map<Labels, std::unique_ptr<Series>> series_;
};

// The value below which a fraction `q` (0 to 1) of the observations fall, estimated by
// linear interpolation within the bucket holding it (the first bucket starts at 0); the
// last bound when it falls in +Inf. None without observations. In the histogram's unit.
std::optional<double> estimate_quantile(const Histogram& histogram, double q);

// Latency buckets in microseconds, from 100 µs to 60 s.
std::vector<std::uint64_t> latency_buckets_us();

// Everything the server counts. One instance, shared by the API, the engine and the store.
struct Metrics {
    Counter jobs_enqueued;
    Family<Counter, 2> job_runs{{"type", "outcome"}};  // outcome: succeeded, retried, failed, interrupted
    Family<Counter, 1> schedule_fires{{"schedule"}};   // ticks fired (a job stored each)
    Family<Histogram, 1> job_duration{{"type"}, [] { return std::make_unique<Histogram>(latency_buckets_us(), 1e-6); }};
    Family<Counter, 2> http_requests{{"route", "code"}};
    Histogram http_request_duration{latency_buckets_us(), 1e-6};
    Histogram db_commit_batch_size{{1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096}, 1.0};
    Histogram db_commit_duration{latency_buckets_us(), 1e-6};
    std::atomic<std::int64_t> workers_busy{0};
    std::atomic<std::int64_t> workers_total{0};
};

}  // namespace jobq::core
