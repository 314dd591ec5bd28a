#include "core/metrics.hpp"

#include <algorithm>
#include <charconv>

namespace jobq::core {

namespace {

void append_number(std::string& out, double value) {
    std::array<char, 32> buf;
    const auto result = std::to_chars(buf.data(), buf.data() + buf.size(), value);
    out.append(buf.data(), result.ptr);
}

void append_number(std::string& out, std::uint64_t value) {
    std::array<char, 24> buf;
    const auto result = std::to_chars(buf.data(), buf.data() + buf.size(), value);
    out.append(buf.data(), result.ptr);
}

void append_series(std::string& out, std::string_view name, std::string_view suffix, std::string_view labels,
                   std::string_view extra_label) {
    out += name;
    out += suffix;
    if (!labels.empty() || !extra_label.empty()) {
        out += '{';
        out += labels;
        if (!labels.empty() && !extra_label.empty()) out += ',';
        out += extra_label;
        out += '}';
    }
    out += ' ';
}

}  // namespace

Histogram::Histogram(std::vector<std::uint64_t> upper_bounds, double scale)
    : bounds_(std::move(upper_bounds)),
      buckets_(std::make_unique<std::atomic<std::uint64_t>[]>(bounds_.size() + 1)),
      scale_(scale) {}

void Histogram::observe(std::uint64_t value) {
    const auto bucket = std::lower_bound(bounds_.begin(), bounds_.end(), value) - bounds_.begin();
    buckets_[static_cast<std::size_t>(bucket)].fetch_add(1, std::memory_order_relaxed);
    sum_.fetch_add(value, std::memory_order_relaxed);
}

void Histogram::render(std::string& out, std::string_view name, std::string_view labels) const {
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i <= bounds_.size(); ++i) {
        cumulative += buckets_[i].load(std::memory_order_relaxed);
        std::string le = "le=\"";
        if (i < bounds_.size()) append_number(le, static_cast<double>(bounds_[i]) * scale_);
        else le += "+Inf";
        le += '"';
        append_series(out, name, "_bucket", labels, le);
        append_number(out, cumulative);
        out += '\n';
    }
    append_series(out, name, "_sum", labels, "");
    append_number(out, static_cast<double>(sum_.load(std::memory_order_relaxed)) * scale_);
    out += '\n';
    // The count is the +Inf bucket: reading it separately could disagree mid-update.
    append_series(out, name, "_count", labels, "");
    append_number(out, cumulative);
    out += '\n';
}

void append_label_value(std::string& out, std::string_view value) {
    for (const char c : value) {
        if (c == '\\') out += "\\\\";
        else if (c == '"') out += "\\\"";
        else if (c == '\n') out += "\\n";
        else out += c;
    }
}

std::vector<std::uint64_t> latency_buckets_us() {
    return {100, 250, 500, 1'000, 2'500, 5'000, 10'000, 25'000, 50'000, 100'000, 250'000, 500'000,
            1'000'000, 2'500'000, 5'000'000, 10'000'000, 30'000'000, 60'000'000};
}

}  // namespace jobq::core
