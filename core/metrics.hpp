#pragma once
// Counters and histograms for GET /metrics (Prometheus text format) and GET /stats.
// Recording is thread-safe and cheap: relaxed atomics, and a mutex only to find the
// series of a label set (a map lookup) — never held while rendering the response body.

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
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
// `scale` converts them to the unit Prometheus shows (seconds) when rendered.
class Histogram {
public:
    Histogram(std::vector<std::uint64_t> upper_bounds, double scale);
    void observe(std::uint64_t value);
    void render(std::string& out, std::string_view name, std::string_view labels) const;

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

    // Calls fn(labels_text, series) for each series, in label order; labels_text is
    // `name="value",...` with values escaped.
    template <class Fn>
    void for_each(Fn&& fn) const {
        std::vector<std::pair<std::string, const Series*>> snapshot;
        {
            const std::lock_guard lock(mutex_);
            for (const auto& [values, series] : series_) snapshot.emplace_back(label_text(values), series.get());
        }
        for (const auto& [labels, series] : snapshot) fn(labels, *series);
    }

    // Calls fn(label_values, series) for each series, under the family's lock: fn must be
    // quick and must not touch the family.
    template <class Fn>
    void for_each_series(Fn&& fn) const {
        const std::lock_guard lock(mutex_);
        for (const auto& [values, series] : series_) fn(values, *series);
    }

private:
    std::string label_text(const Labels& values) const;

    std::array<std::string_view, LabelCount> names_;
    std::function<std::unique_ptr<Series>()> make_;
    mutable std::mutex mutex_;
    std::map<Labels, std::unique_ptr<Series>> series_;
};

// `value` escaped for a label value: backslash, double quote and newline.
void append_label_value(std::string& out, std::string_view value);

template <class Series, std::size_t LabelCount>
std::string Family<Series, LabelCount>::label_text(const Labels& values) const {
    std::string out;
    for (std::size_t i = 0; i < LabelCount; ++i) {
        if (i) out += ',';
        out += names_[i];
        out += "=\"";
        append_label_value(out, values[i]);
        out += '"';
    }
    return out;
}

// Latency buckets in microseconds, from 100 µs to 60 s.
std::vector<std::uint64_t> latency_buckets_us();

// Everything the server counts. One instance, shared by the API, the engine and the store.
struct Metrics {
    Counter jobs_enqueued;
    Family<Counter, 2> job_runs{{"type", "outcome"}};  // outcome: succeeded, retried, failed
    Family<Histogram, 1> job_duration{{"type"}, [] { return std::make_unique<Histogram>(latency_buckets_us(), 1e-6); }};
    Family<Counter, 2> http_requests{{"route", "code"}};
    Histogram http_request_duration{latency_buckets_us(), 1e-6};
    Histogram db_commit_batch_size{{1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096}, 1.0};
    Histogram db_commit_duration{latency_buckets_us(), 1e-6};
    std::atomic<std::int64_t> workers_busy{0};
    std::atomic<std::int64_t> workers_total{0};
};

}  // namespace jobq::core
