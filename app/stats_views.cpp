#include "app/stats_views.hpp"

#include "app/json_text.hpp"
#include "app/queue_json.hpp"

#include <charconv>

namespace jobq::app {

namespace {

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

std::string milliseconds_json(double microseconds) {
    char text[32];
    const auto end = std::to_chars(text, text + sizeof text, microseconds / 1000.0, std::chars_format::fixed, 1).ptr;
    return std::string(text, end);
}

// Per job type since start: runs timed, and the run time's p50 and p95 in milliseconds,
// estimated from the histogram's buckets.
std::string run_times_json(const core::Metrics& metrics) {
    std::string out;
    JsonObjectWriter by_type(out);
    for (const auto& [labels, histogram] : metrics.job_duration.series()) {
        const auto p50 = core::estimate_quantile(*histogram, 0.5);
        const auto p95 = core::estimate_quantile(*histogram, 0.95);
        if (!p50 || !p95) continue;
        std::uint64_t runs = 0;
        for (std::size_t i = 0; i <= histogram->upper_bounds().size(); ++i) runs += histogram->bucket(i);
        std::string times;
        JsonObjectWriter(times)
            .integer("runs", static_cast<std::int64_t>(runs))
            .raw("p50", milliseconds_json(*p50))
            .raw("p95", milliseconds_json(*p95))
            .close();
        by_type.raw(labels[0], times);
    }
    by_type.close();
    return out;
}

std::string series_json(const core::HistoryWindow::Series& series) {
    std::string out;
    JsonObjectWriter writer(out);
    for (std::size_t e = 0; e < core::job_event_count; ++e) {
        std::string values = "[";
        for (std::size_t i = 0; i < series[e].size(); ++i) {
            if (i) values += ',';
            values += std::to_string(series[e][i]);
        }
        values += ']';
        writer.raw(core::to_string(static_cast<core::JobEvent>(e)), values);
    }
    writer.close();
    return out;
}

}  // namespace

std::string history_json(const core::HistoryWindow& window) {
    std::string queues;
    JsonObjectWriter by_queue(queues);
    for (const auto& [name, series] : window.queues) by_queue.raw(name, series_json(series));
    by_queue.close();
    std::string out;
    JsonObjectWriter(out)
        .integer("from", window.first_second)
        .integer("seconds", static_cast<std::int64_t>(window.seconds))
        .raw("totals", series_json(window.totals))
        .raw("queues", queues)
        .raw("every_queue", window.every_queue ? "true" : "false")
        .close();
    return out;
}

std::map<std::string, StateCounts> counts_by_queue(const std::vector<core::JobCount>& counts) {
    std::map<std::string, StateCounts> by_queue;
    for (const auto& c : counts) by_queue[c.queue][static_cast<std::size_t>(c.state)] += c.count;
    return by_queue;
}

std::string stats_json(const std::vector<core::JobCount>& counts, std::optional<core::millis> oldest_runnable_age_ms,
                       const core::Metrics* metrics, const core::ScheduleSummary& schedules,
                       const core::QueueSettingsMap& queue_settings) {
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
    std::string scheduled;
    JsonObjectWriter(scheduled)
        .integer("total", static_cast<std::int64_t>(schedules.total))
        .integer("paused", static_cast<std::int64_t>(schedules.paused))
        .time_or_null("next_run_at", schedules.next_run_at)
        .close();
    std::string settings;
    JsonObjectWriter by_queue_settings(settings);
    for (const auto& [queue, s] : queue_settings) by_queue_settings.raw(queue, queue_settings_json(s));
    by_queue_settings.close();
    writer.raw("queue_settings", settings);
    writer.raw("totals_since_start", totals).raw("workers", workers).raw("schedules", scheduled);
    writer.raw("run_time_ms", metrics ? run_times_json(*metrics) : "{}").close();
    return out;
}

}  // namespace jobq::app
