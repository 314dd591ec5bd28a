// The server's state: GET /stats (JSON), GET /stats/history (per second) and GET /metrics
// (Prometheus text). Counts and history come from memory; the oldest runnable job is one
// read on a read-only connection: none of them waits for, or holds up, a write.

#include "app/api/routes.hpp"
#include "app/api/toolkit.hpp"
#include "app/prometheus.hpp"
#include "app/stats_views.hpp"

namespace jobq::app {

namespace asio = boost::asio;

namespace {

asio::awaitable<Answer> stats(ApiContext& ctx, RouteRequest) {
    const core::millis now = ctx.clock();
    const auto counts = ctx.stores.reader.counts();
    const auto oldest = co_await ctx.stores.reader.oldest_runnable(now);
    const auto oldest_age = oldest ? std::optional(now - *oldest) : std::nullopt;
    // One aggregate read on a read-only connection, as the oldest runnable job.
    const auto schedules = co_await ctx.stores.schedules.summarize_schedules();
    const auto settings = ctx.stores.queues.queue_settings();
    co_return json_response(200, stats_json(counts, oldest_age, ctx.metrics, schedules, settings));
}

struct HistoryQuery {
    std::size_t seconds = 60;
    std::optional<std::string> queue;  // only this queue's series beside the totals
};

// ?seconds=N (the last N seconds, 1 to 3600, default 60) and ?queue=name.
core::Result<HistoryQuery> history_query(const net::HttpRequest& request) {
    const auto params = query_params(request);
    if (!params) return params.error();
    HistoryQuery query;
    for (const auto& [name, value] : *params) {
        if (name == "queue") {
            if (value.empty()) return invalid_query("queue must name a queue");
            query.queue = value;
        } else if (name == "seconds") {
            const auto n = parse_positive(value);
            if (!n || *n > static_cast<std::int64_t>(core::JobHistory::span_seconds))
                return invalid_query("seconds must be from 1 to " + std::to_string(core::JobHistory::span_seconds));
            query.seconds = static_cast<std::size_t>(*n);
        } else {
            return invalid_query("unknown parameter '" + name + "'; known: seconds, queue");
        }
    }
    return query;
}

asio::awaitable<Answer> history(ApiContext& ctx, RouteRequest request) {
    const auto query = history_query(request.http);
    if (!query) co_return query.error();
    // The history counts in the seconds of the system clock, as the store records them.
    auto window = ctx.stores.reader.history(query->seconds, core::system_now_ms() / 1000);
    if (query->queue) std::erase_if(window.queues, [&](const auto& entry) { return entry.first != *query->queue; });
    co_return json_response(200, history_json(window));
}

asio::awaitable<Answer> metrics(ApiContext& ctx, RouteRequest) {
    const auto counts = ctx.stores.reader.counts();
    auto response = json_response(200, prometheus_text(counts, ctx.stores.queues.queue_settings(), ctx.metrics));
    response.content_type = prometheus_content_type;
    co_return response;
}

}  // namespace

void add_stats_routes(RouteTable& table) {
    table.add({.method = "GET", .pattern = "/metrics", .handler = metrics});
    table.add({.method = "GET", .pattern = "/stats", .handler = stats});
    table.add({.method = "GET", .pattern = "/stats/history", .handler = history});
}

}  // namespace jobq::app
