// Probes, answered without the API token: GET /healthz (the process answers) and GET
// /readyz (it can take jobs: not draining, the engine's loops running, the database
// writable).

#include "app/api/routes.hpp"
#include "app/api/toolkit.hpp"

namespace jobq::app {

namespace asio = boost::asio;

namespace {

core::Error not_ready(std::string message) {
    return core::make_error(core::errc::unavailable, std::move(message), "not_ready");
}

asio::awaitable<Answer> healthz(ApiContext&, RouteRequest) { co_return json_response(200, R"({"status":"ok"})"); }

asio::awaitable<Answer> readyz(ApiContext& ctx, RouteRequest) {
    if (ctx.draining) co_return not_ready("the server is shutting down");
    if (const auto ended = ctx.loops.loops_not_running(); !ended.empty()) {
        std::string names;
        for (const auto& name : ended) names += (names.empty() ? "" : ", ") + name;
        co_return not_ready("engine loops not running: " + names);
    }
    // A store that cannot write is this probe's finding, not its failure: answered as
    // not_ready, and logged as a warning (a load balancer may ask every second).
    const StoreFailureLog how{.level = core::log::Level::warn, .message = "readiness probe cannot write"};
    if (const auto writable = co_await unless_store_fails(ctx.stores.readiness.writable(), how); !writable)
        co_return not_ready("the database cannot be written");
    co_return json_response(200, R"({"status":"ready"})");
}

}  // namespace

void add_health_routes(RouteTable& table) {
    table.add({.method = "GET", .pattern = "/healthz", .handler = healthz, .grant = Grant::probe});
    table.add({.method = "GET", .pattern = "/readyz", .handler = readyz, .grant = Grant::probe});
}

}  // namespace jobq::app
