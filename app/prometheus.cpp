#include "app/prometheus.hpp"

#include "app/stats_views.hpp"

#include <array>
#include <charconv>

namespace jobq::app {

namespace {

// Shortest text that reads back as the same double ("0.0001", "2.5", "60").
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

// A label value with backslash, double quote and newline escaped, as the format requires.
void append_label_value(std::string& out, std::string_view value) {
    for (const char c : value) {
        if (c == '\\') out += "\\\\";
        else if (c == '"') out += "\\\"";
        else if (c == '\n') out += "\\n";
        else out += c;
    }
}

// `name="value",...` for one series of a family.
template <std::size_t N>
std::string label_text(const std::array<std::string_view, N>& names, const std::array<std::string, N>& values) {
    std::string out;
    for (std::size_t i = 0; i < N; ++i) {
        if (i) out += ',';
        out += names[i];
        out += "=\"";
        append_label_value(out, values[i]);
        out += '"';
    }
    return out;
}

void help_and_type(std::string& out, std::string_view name, std::string_view help, std::string_view type) {
    out += "# HELP ";
    out += name;
    out += ' ';
    out += help;
    out += "\n# TYPE ";
    out += name;
    out += ' ';
    out += type;
    out += '\n';
}

// `name{labels} ` (no braces without labels), then the caller appends the value.
void series_name(std::string& out, std::string_view name, std::string_view suffix, std::string_view labels,
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

void sample(std::string& out, std::string_view name, std::string_view labels, std::uint64_t value) {
    series_name(out, name, "", labels, "");
    append_number(out, value);
    out += '\n';
}

// Cumulative buckets, the sum, and the count, in that order.
void histogram(std::string& out, std::string_view name, std::string_view labels, const core::Histogram& h) {
    const auto& bounds = h.upper_bounds();
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i <= bounds.size(); ++i) {
        cumulative += h.bucket(i);
        std::string le = "le=\"";
        if (i < bounds.size()) append_number(le, static_cast<double>(bounds[i]) * h.scale());
        else le += "+Inf";
        le += '"';
        series_name(out, name, "_bucket", labels, le);
        append_number(out, cumulative);
        out += '\n';
    }
    series_name(out, name, "_sum", labels, "");
    append_number(out, static_cast<double>(h.sum()) * h.scale());
    out += '\n';
    // The count is the +Inf bucket: reading it separately could disagree mid-update.
    series_name(out, name, "_count", labels, "");
    append_number(out, cumulative);
    out += '\n';
}

template <std::size_t N>
void counters(std::string& out, std::string_view name, const core::Family<core::Counter, N>& family) {
    for (const auto& [values, counter] : family.series())
        sample(out, name, label_text(family.label_names(), values), counter->value());
}

template <std::size_t N>
void histograms(std::string& out, std::string_view name, const core::Family<core::Histogram, N>& family) {
    for (const auto& [values, h] : family.series())
        histogram(out, name, label_text(family.label_names(), values), *h);
}

// Gauges per (state, queue), every state present for every queue so a series drops to 0
// instead of vanishing.
void job_gauges(std::string& out, const std::vector<core::JobCount>& counts) {
    help_and_type(out, "jobq_jobs", "Jobs stored, by state and queue.", "gauge");
    for (const auto& [queue, states] : counts_by_queue(counts)) {
        for (std::size_t i = 0; i < all_states.size(); ++i) {
            std::string labels = "state=\"";
            labels += core::to_string(all_states[i]);
            labels += "\",queue=\"";
            append_label_value(labels, queue);
            labels += '"';
            sample(out, "jobq_jobs", labels, static_cast<std::uint64_t>(states[i]));
        }
    }
}

std::string queue_label(std::string_view queue) {
    std::string labels = "queue=\"";
    append_label_value(labels, queue);
    labels += '"';
    return labels;
}

// jobq_queue_paused for every queue a job or a setting names (0 or 1), and
// jobq_queue_concurrency_limit for those with a limit.
void queue_gauges(std::string& out, const std::vector<core::JobCount>& counts, const core::QueueSettingsMap& settings) {
    auto queues = counts_by_queue(counts);
    for (const auto& [queue, s] : settings) queues.try_emplace(queue);
    help_and_type(out, "jobq_queue_paused", "Whether the queue is paused (1): nothing of it is claimed or leased.",
                  "gauge");
    for (const auto& [queue, states] : queues) {
        const auto s = settings.find(queue);
        sample(out, "jobq_queue_paused", queue_label(queue), s != settings.end() && s->second.paused ? 1 : 0);
    }
    help_and_type(out, "jobq_queue_concurrency_limit", "Jobs of the queue that may be processing at once, where limited.",
                  "gauge");
    for (const auto& [queue, s] : settings)
        if (s.concurrency)
            sample(out, "jobq_queue_concurrency_limit", queue_label(queue), static_cast<std::uint64_t>(*s.concurrency));
}

}  // namespace

std::string prometheus_text(const std::vector<core::JobCount>& counts, const core::QueueSettingsMap& queues,
                            const core::Metrics* metrics) {
    std::string out;
    job_gauges(out, counts);
    queue_gauges(out, counts, queues);
    if (!metrics) return out;

    help_and_type(out, "jobq_jobs_enqueued_total", "Jobs stored since start.", "counter");
    sample(out, "jobq_jobs_enqueued_total", "", metrics->jobs_enqueued.value());

    help_and_type(out, "jobq_job_runs_total", "Job runs since start, by type and outcome.", "counter");
    counters(out, "jobq_job_runs_total", metrics->job_runs);

    help_and_type(out, "jobq_schedule_fires_total", "Schedule ticks fired since start, a job stored for each.", "counter");
    counters(out, "jobq_schedule_fires_total", metrics->schedule_fires);

    help_and_type(out, "jobq_job_duration_seconds", "Time a job's handler ran, by type.", "histogram");
    histograms(out, "jobq_job_duration_seconds", metrics->job_duration);

    help_and_type(out, "jobq_http_requests_total", "HTTP requests answered, by route and status code.", "counter");
    counters(out, "jobq_http_requests_total", metrics->http_requests);

    help_and_type(out, "jobq_http_request_duration_seconds", "Time from a request read to its response (POST /leases, a long poll, left out).", "histogram");
    histogram(out, "jobq_http_request_duration_seconds", "", metrics->http_request_duration);

    help_and_type(out, "jobq_db_commit_batch_size", "Writes per group-commit transaction.", "histogram");
    histogram(out, "jobq_db_commit_batch_size", "", metrics->db_commit_batch_size);

    help_and_type(out, "jobq_db_commit_seconds", "Time of a group-commit transaction, fsync included.", "histogram");
    histogram(out, "jobq_db_commit_seconds", "", metrics->db_commit_duration);

    help_and_type(out, "jobq_workers_busy", "Workers running a job now.", "gauge");
    sample(out, "jobq_workers_busy", "", static_cast<std::uint64_t>(metrics->workers_busy.load()));
    return out;
}

}  // namespace jobq::app
