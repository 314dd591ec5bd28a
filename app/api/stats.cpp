// The server's state: GET /stats (JSON), GET /stats/history (per second), GET /events (the
// overview as server-sent events, every second) and GET /metrics (Prometheus text). Counts
// and history come from memory; the oldest runnable job is one read on a read-only
// connection: none of them waits for, or holds up, a write.

#include "app/api/routes.hpp"
#include "app/api/toolkit.hpp"
#include "app/prometheus.hpp"
#include "app/stats_views.hpp"
#include "app/json_text.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <memory>

namespace jobq::app {

namespace asio = boost::asio;

namespace {

asio::awaitable<std::string> current_stats(ApiContext& ctx) {
    const core::millis now = ctx.clock();
    const auto counts = ctx.stores.reader.counts();
    const auto oldest = co_await ctx.stores.reader.oldest_runnable(now);
    const auto oldest_age = oldest ? std::optional(now - *oldest) : std::nullopt;
    // One aggregate read on a read-only connection, as the oldest runnable job.
    const auto schedules = co_await ctx.stores.schedules.summarize_schedules();
    const auto settings = ctx.stores.queues.queue_settings();
    co_return stats_json(counts, oldest_age, ctx.metrics, schedules, settings);
}

asio::awaitable<Answer> stats(ApiContext& ctx, RouteRequest) {
    std::string body = co_await current_stats(ctx);
    co_return json_response(200, std::move(body));
}

// --- GET /events

constexpr auto event_interval = std::chrono::seconds(1);

// One `overview` event: what GET /stats answers, and the history's last two seconds (the
// first complete, the second still counting), so that a chart loaded from /stats/history
// goes on from it. Shared by every open stream for OverviewFeed::reuse_within.
asio::awaitable<std::string> overview_event(ApiContext& ctx) {
    const auto now = OverviewFeed::Clock::now();
    if (auto recent = ctx.overview.recent(now)) co_return std::move(*recent);
    std::string stats_now = co_await current_stats(ctx);
    const auto window = ctx.stores.reader.history(2, core::system_now_ms() / 1000);
    std::string data;
    JsonObjectWriter(data).raw("stats", stats_now).raw("history", history_json(window)).close();
    std::string event = "event: overview\ndata: " + data + "\n\n";
    ctx.overview.keep(event, now);
    co_return event;
}

// What one stream remembers between its events; its slot among the open streams is given
// back with it.
struct StreamState {
    OverviewFeed::Slot slot;
    bool first = true;
};

// The next event: at once for the first, then every event_interval; none once the server
// drains. A store that fails sends an `unavailable` event and the stream goes on.
asio::awaitable<std::optional<std::string>> next_event(ApiContext& ctx, std::shared_ptr<StreamState> state) {
    if (!state->first) {
        asio::steady_timer timer(co_await asio::this_coro::executor, event_interval);
        co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    }
    state->first = false;
    if (ctx.draining) co_return std::nullopt;
    auto event = co_await unless_store_fails(overview_event(ctx), {.route = "/events"});
    if (!event) co_return std::string("event: unavailable\ndata: {}\n\n");
    co_return std::move(*event);
}

// The streamed response, built outside any coroutine: GCC 12 relocates lambdas with
// non-trivial captures bitwise when a coroutine body creates them.
Answer event_stream(ApiContext& ctx) {
    if (ctx.draining) return core::make_error(core::errc::unavailable, "the server is shutting down", "shutting_down");
    auto state = std::make_shared<StreamState>();
    state->slot = ctx.overview.open_stream();
    if (!state->slot)
        return core::make_error(core::errc::busy,
                                "too many event streams are open (" + std::to_string(OverviewFeed::max_streams) +
                                    "); close one, or poll GET /stats",
                                "too_many_streams");
    net::HttpResponse response;
    response.content_type = "text/event-stream";
    response.headers.emplace_back("Cache-Control", "no-store");
    response.headers.emplace_back("X-Accel-Buffering", "no");  // a proxy in front passes each event on at once
    response.stream = [&ctx, state = std::move(state)] { return next_event(ctx, state); };
    return response;
}

asio::awaitable<Answer> answered(Answer answer) { co_return std::move(answer); }

asio::awaitable<Answer> events(ApiContext& ctx, RouteRequest) { return answered(event_stream(ctx)); }

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
    table.add({.method = "GET", .pattern = "/events", .handler = events});
}

}  // namespace jobq::app
