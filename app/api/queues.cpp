// Queues: bulk actions on one queue's jobs. POST /queues/{name}/retry-failed queues every
// failed job of it again; POST /queues/{name}/purge?state=queued|failed|done|cancelled
// deletes its jobs in that state. Both go a batch at a time, each batch its own
// transaction through the group commit, so no other write waits behind them for more than
// a batch.

#include "app/api/routes.hpp"
#include "app/api/toolkit.hpp"
#include "app/json_text.hpp"

namespace jobq::app {

namespace asio = boost::asio;

namespace {

constexpr std::size_t batch = 500;

net::HttpResponse count_response(std::size_t count) {
    std::string body;
    JsonObjectWriter(body).integer("count", static_cast<std::int64_t>(count)).close();
    return json_response(200, std::move(body));
}

asio::awaitable<Answer> retry_failed(ApiContext& ctx, RouteRequest request) {
    const std::string queue(request.id);
    std::size_t total = 0;
    for (;;) {
        const auto moved = co_await ctx.stores.actions.retry_failed(queue, ctx.clock(), batch);
        total += moved;
        if (moved > 0) {
            wake_lease_waiters(ctx);  // some may be of external types
            ctx.notifier.notify_enqueued();
        }
        if (moved < batch) break;
    }
    co_return count_response(total);
}

core::Result<core::JobState> purged_state(const RouteRequest& request) {
    const auto params = query_params(request.http);
    if (!params) return params.error();
    std::optional<core::JobState> state;
    for (const auto& [name, value] : *params) {
        if (name != "state") return invalid_query("unknown parameter '" + name + "'");
        state = core::parse_job_state(value);
        if (!state || *state == core::JobState::processing)
            return invalid_query("state must be queued, failed, done or cancelled (processing jobs are running)");
    }
    if (!state) return invalid_query("state is required: queued, failed, done or cancelled");
    return *state;
}

asio::awaitable<Answer> purge(ApiContext& ctx, RouteRequest request) {
    const auto state = purged_state(request);
    if (!state) co_return state.error();
    const std::string queue(request.id);
    std::size_t total = 0;
    for (;;) {
        const auto deleted = co_await ctx.stores.actions.purge(queue, *state, batch);
        total += deleted;
        if (deleted < batch) break;
    }
    co_return count_response(total);
}

}  // namespace

void add_queue_routes(RouteTable& table) {
    table.add({.method = "POST", .pattern = "/queues/{name}/retry-failed", .handler = retry_failed});
    table.add({.method = "POST", .pattern = "/queues/{name}/purge", .handler = purge});
}

}  // namespace jobq::app
