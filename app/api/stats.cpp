// The server's state: GET /stats (JSON) and GET /metrics (Prometheus text).

#include "app/api/routes.hpp"
#include "app/api/toolkit.hpp"
#include "app/prometheus.hpp"
#include "app/stats_views.hpp"

namespace jobq::app {

namespace asio = boost::asio;

namespace {

asio::awaitable<Answer> stats(ApiContext& ctx, RouteRequest) {
    const core::millis now = ctx.clock();
    const auto counts = co_await ctx.stores.reader.counts();
    const auto oldest = co_await ctx.stores.reader.oldest_runnable(now);
    const auto oldest_age = oldest ? std::optional(now - *oldest) : std::nullopt;
    co_return json_response(200, stats_json(counts, oldest_age, ctx.metrics));
}

asio::awaitable<Answer> metrics(ApiContext& ctx, RouteRequest) {
    const auto counts = co_await ctx.stores.reader.counts();
    auto response = json_response(200, prometheus_text(counts, ctx.metrics));
    response.content_type = prometheus_content_type;
    co_return response;
}

}  // namespace

void add_stats_routes(RouteTable& table) {
    table.add({.method = "GET", .pattern = "/metrics", .handler = metrics});
    table.add({.method = "GET", .pattern = "/stats", .handler = stats});
}

}  // namespace jobq::app
