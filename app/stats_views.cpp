#include "app/stats_views.hpp"

#include "app/json_text.hpp"

#include <array>
#include <map>

namespace jobq::app {

namespace {

constexpr std::array<core::JobState, 5> all_states = {core::JobState::queued, core::JobState::processing,
                                                      core::JobState::done, core::JobState::failed,
                                                      core::JobState::cancelled};

using StateCounts = std::array<std::int64_t, all_states.size()>;

std::string state_counts_json(const StateCounts& counts) {
    std::string out;
    JsonObjectWriter writer(out);
    for (std::size_t i = 0; i < all_states.size(); ++i) writer.integer(core::to_string(all_states[i]), counts[i]);
    writer.close();
    return out;
}

std::string grouped_json(const std::map<std::string, StateCounts>& groups) {
    std::string out;
    JsonObjectWriter writer(out);
    for (const auto& [name, counts] : groups) writer.raw(name, state_counts_json(counts));
    writer.close();
    return out;
}

// Runs counted by outcome over every job type.
std::uint64_t runs_with_outcome(const core::Metrics& metrics, std::string_view outcome) {
    std::uint64_t total = 0;
    metrics.job_runs.for_each_series([&](const auto& labels, const core::Counter& counter) {
        if (labels[1] == outcome) total += counter.value();
    });
    return total;
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

void sample(std::string& out, std::string_view name, std::string_view labels, std::uint64_t value) {
    out += name;
    if (!labels.empty()) {
        out += '{';
        out += labels;
        out += '}';
    }
    out += ' ';
    out += std::to_string(value);
    out += '\n';
}

}  // namespace

std::string stats_json(const std::vector<core::JobCount>& counts, std::optional<core::millis> oldest_runnable_age_ms,
                       const core::Metrics* metrics) {
    StateCounts by_state{};
    std::map<std::string, StateCounts> by_queue, by_type;
    for (const auto& c : counts) {
        const auto state = static_cast<std::size_t>(c.state);
        by_state[state] += c.count;
        by_queue[c.queue][state] += c.count;
        by_type[c.type][state] += c.count;
    }

    std::string totals;
    JsonObjectWriter(totals)
        .integer("enqueued", metrics ? static_cast<std::int64_t>(metrics->jobs_enqueued.value()) : 0)
        .integer("succeeded", metrics ? static_cast<std::int64_t>(runs_with_outcome(*metrics, "succeeded")) : 0)
        .integer("retried", metrics ? static_cast<std::int64_t>(runs_with_outcome(*metrics, "retried")) : 0)
        .integer("failed", metrics ? static_cast<std::int64_t>(runs_with_outcome(*metrics, "failed")) : 0)
        .close();
    const std::int64_t busy = metrics ? metrics->workers_busy.load() : 0;
    const std::int64_t total = metrics ? metrics->workers_total.load() : 0;
    std::string workers;
    JsonObjectWriter(workers).integer("busy", busy).integer("idle", total - busy).integer("total", total).close();

    std::string out;
    JsonObjectWriter writer(out);
    writer.raw("jobs", state_counts_json(by_state))
        .raw("queues", grouped_json(by_queue))
        .raw("types", grouped_json(by_type));
    if (oldest_runnable_age_ms) writer.integer("oldest_runnable_age_ms", *oldest_runnable_age_ms);
    else writer.raw("oldest_runnable_age_ms", "null");
    writer.raw("totals_since_start", totals).raw("workers", workers).close();
    return out;
}

std::string prometheus_text(const std::vector<core::JobCount>& counts, const core::Metrics* metrics) {
    std::string out;
    // Gauges per (state, queue), every state present for every queue so a series drops
    // to 0 instead of vanishing.
    std::map<std::string, StateCounts> by_queue;
    for (const auto& c : counts) by_queue[c.queue][static_cast<std::size_t>(c.state)] += c.count;
    help_and_type(out, "jobq_jobs", "Jobs stored, by state and queue.", "gauge");
    for (const auto& [queue, states] : by_queue) {
        for (std::size_t i = 0; i < all_states.size(); ++i) {
            std::string labels = "state=\"";
            labels += core::to_string(all_states[i]);
            labels += "\",queue=\"";
            core::append_label_value(labels, queue);
            labels += '"';
            sample(out, "jobq_jobs", labels, static_cast<std::uint64_t>(states[i]));
        }
    }
    if (!metrics) return out;

    help_and_type(out, "jobq_jobs_enqueued_total", "Jobs stored since start.", "counter");
    sample(out, "jobq_jobs_enqueued_total", "", metrics->jobs_enqueued.value());

    help_and_type(out, "jobq_job_runs_total", "Job runs since start, by type and outcome.", "counter");
    metrics->job_runs.for_each([&](const std::string& labels, const core::Counter& c) {
        sample(out, "jobq_job_runs_total", labels, c.value());
    });

    help_and_type(out, "jobq_job_duration_seconds", "Time a job's handler ran, by type.", "histogram");
    metrics->job_duration.for_each([&](const std::string& labels, const core::Histogram& h) {
        h.render(out, "jobq_job_duration_seconds", labels);
    });

    help_and_type(out, "jobq_http_requests_total", "HTTP requests answered, by route and status code.", "counter");
    metrics->http_requests.for_each([&](const std::string& labels, const core::Counter& c) {
        sample(out, "jobq_http_requests_total", labels, c.value());
    });

    help_and_type(out, "jobq_http_request_duration_seconds", "Time from a request read to its response.", "histogram");
    metrics->http_request_duration.render(out, "jobq_http_request_duration_seconds", "");

    help_and_type(out, "jobq_db_commit_batch_size", "Writes per group-commit transaction.", "histogram");
    metrics->db_commit_batch_size.render(out, "jobq_db_commit_batch_size", "");

    help_and_type(out, "jobq_db_commit_seconds", "Time of a group-commit transaction, fsync included.", "histogram");
    metrics->db_commit_duration.render(out, "jobq_db_commit_seconds", "");

    help_and_type(out, "jobq_workers_busy", "Workers running a job now.", "gauge");
    sample(out, "jobq_workers_busy", "", static_cast<std::uint64_t>(metrics->workers_busy.load()));
    return out;
}

}  // namespace jobq::app
