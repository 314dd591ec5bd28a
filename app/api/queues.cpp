// Queues: bulk actions on one queue's jobs. POST /queues/{name}/retry-failed queues every
// failed job of it again; POST /queues/{name}/purge?state=queued|failed|done|cancelled
// deletes its jobs in that state. Both go a window of ids at a time, each its own
// transaction through the group commit (core::OperatorActions), so no other write waits
// behind them for more than a window's work; they touch only the jobs there were when they
// began, so they end however fast jobs come and fail.

#include "app/api/routes.hpp"
#include "app/api/toolkit.hpp"
#include "app/json_text.hpp"

#include <boost/url/decode_view.hpp>
#include <boost/url/pct_string_view.hpp>

namespace jobq::app {

namespace asio = boost::asio;

namespace {

net::HttpResponse count_response(std::size_t count) {
    std::string body;
    JsonObjectWriter(body).integer("count", static_cast<std::int64_t>(count)).close();
    return json_response(200, std::move(body));
}

// The {name} segment, percent-decoded: a queue may be named with any characters.
core::Result<std::string> queue_name(const RouteRequest& request) {
    const auto encoded = boost::urls::make_pct_string_view(request.id);
    if (!encoded) return invalid_query("the queue's name in the path is not valid percent-encoding");
    std::string name;
    for (const char c : encoded->decode()) name += c;
    return name;
}

// Whether the kept counts know any job of the queue in that state: none, and the action
// has nothing to read.
bool has_jobs(const ApiContext& ctx, const std::string& queue, core::JobState state) {
    for (const auto& c : ctx.stores.reader.counts())
        if (c.queue == queue && c.state == state && c.count > 0) return true;
    return false;
}

core::Error shutting_down(std::size_t done) {
    return core::make_error(core::errc::unavailable,
                            "the server is shutting down; " + std::to_string(done) + " jobs were done before it stopped",
                            "shutting_down");
}

asio::awaitable<Answer> retry_failed(ApiContext& ctx, RouteRequest request) {
    const auto queue = queue_name(request);
    if (!queue) co_return queue.error();
    std::size_t total = 0;
    if (!has_jobs(ctx, *queue, core::JobState::failed)) co_return count_response(total);
    core::job_id after = 0;
    std::optional<core::job_id> up_to;
    for (;;) {
        if (ctx.draining) co_return shutting_down(total);
        const auto step = co_await ctx.stores.actions.retry_failed(*queue, ctx.clock(), after, up_to);
        total += step.changed;
        if (step.changed > 0) {
            wake_lease_waiters(ctx);  // some may be of external types
            ctx.notifier.notify_enqueued();
        }
        if (!step.next) break;
        after = *step.next;
        up_to = step.up_to;
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
    const auto queue = queue_name(request);
    if (!queue) co_return queue.error();
    std::size_t total = 0;
    if (!has_jobs(ctx, *queue, *state)) co_return count_response(total);
    core::job_id after = 0;
    std::optional<core::job_id> up_to;
    for (;;) {
        if (ctx.draining) co_return shutting_down(total);
        const auto step = co_await ctx.stores.actions.purge(*queue, *state, after, up_to);
        total += step.changed;
        if (!step.next) break;
        after = *step.next;
        up_to = step.up_to;
    }
    co_return count_response(total);
}

}  // namespace

void add_queue_routes(RouteTable& table) {
    table.add({.method = "POST", .pattern = "/queues/{name}/retry-failed", .handler = retry_failed});
    table.add({.method = "POST", .pattern = "/queues/{name}/purge", .handler = purge});
}

}  // namespace jobq::app
