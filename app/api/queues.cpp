// Queues: GET /queues (every queue: its counts, settings, oldest runnable job and jobs
// finished in the last minute), GET and PATCH /queues/{name} (paused, concurrency,
// rate_limit, weight: core::QueueRules), POST /queues/{name}/pause and /resume.
// Bulk actions on one queue's jobs: POST /queues/{name}/retry-failed queues every failed
// job of it again; POST /queues/{name}/purge?state=queued|failed|done|cancelled deletes
// its jobs in that state. Both go a window of ids at a time, each its own
// transaction through the group commit (core::OperatorActions), so no other write waits
// behind them for more than a window's work; they touch only the jobs there were when they
// began, so they end however fast jobs come and fail.

#include "app/api/routes.hpp"
#include "app/api/toolkit.hpp"
#include "app/json_text.hpp"
#include "app/queue_json.hpp"
#include "app/stats_views.hpp"

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

core::Error no_such_queue(std::string_view name) {
    return core::make_error(core::errc::not_found,
                            "no queue '" + std::string(name) + "' (no job and no setting names it)");
}

// Jobs of each queue done or dead-lettered in the last minute, from the history; a queue
// whose events are not kept apart is missing (unless every queue's are: then it had none).
struct FinishedLastMinute {
    std::map<std::string, std::int64_t> by_queue;
    bool every_queue = true;

    std::optional<std::int64_t> of(const std::string& queue) const {
        const auto found = by_queue.find(queue);
        if (found != by_queue.end()) return found->second;
        return every_queue ? std::optional<std::int64_t>(0) : std::nullopt;
    }
};

FinishedLastMinute finished_last_minute(const ApiContext& ctx, core::millis now) {
    const auto window = ctx.stores.reader.history(60, now / 1000);
    FinishedLastMinute finished;
    finished.every_queue = window.every_queue;
    for (const auto& [queue, series] : window.queues) {
        std::int64_t n = 0;
        for (const auto event : {core::JobEvent::done, core::JobEvent::failed})
            for (const auto v : series[static_cast<std::size_t>(event)]) n += v;
        finished.by_queue.emplace(queue, n);
    }
    return finished;
}

// Every queue a job or a setting names (or only `only`), by name.
std::vector<QueueView> queue_views(const ApiContext& ctx, core::millis now,
                                   const std::map<std::string, core::millis>& oldest,
                                   const std::optional<std::string>& only) {
    auto counts = counts_by_queue(ctx.stores.reader.counts());
    const auto settings = ctx.stores.queues.queue_settings();
    for (const auto& [queue, s] : settings) counts.try_emplace(queue);
    const auto finished = finished_last_minute(ctx, now);
    std::vector<QueueView> views;
    for (const auto& [queue, by_state] : counts) {
        if (only && queue != *only) continue;
        QueueView view;
        view.name = queue;
        view.counts = by_state;
        if (const auto s = settings.find(queue); s != settings.end()) view.settings = s->second;
        if (const auto o = oldest.find(queue); o != oldest.end())
            view.oldest_runnable_age_ms = std::max<core::millis>(0, now - o->second);
        view.finished_last_minute = finished.of(queue);
        views.push_back(std::move(view));
    }
    return views;
}

asio::awaitable<Answer> list_queues(ApiContext& ctx, RouteRequest) {
    const core::millis now = ctx.clock();
    const auto oldest = co_await ctx.stores.queues.oldest_runnable_by_queue(now);
    std::string body = R"({"queues":[)";
    bool first = true;
    for (const auto& view : queue_views(ctx, now, oldest, std::nullopt)) {
        if (!std::exchange(first, false)) body += ',';
        body += queue_json(view);
    }
    body += "]}";
    co_return json_response(200, std::move(body));
}

// The queue as GET /queues/{name} shows it; 404 when nothing names it, unless
// `exists` (it was just changed: with no job and default settings, it shows as such).
asio::awaitable<Answer> queue_answer(ApiContext& ctx, const std::string& name, bool exists = false) {
    const core::millis now = ctx.clock();
    const auto oldest = co_await ctx.stores.queues.oldest_runnable_by_queue(now, name);
    auto views = queue_views(ctx, now, oldest, name);
    if (views.empty() && !exists) co_return no_such_queue(name);
    if (views.empty()) views.push_back({name, {}, {}, std::nullopt, finished_last_minute(ctx, now).of(name)});
    co_return json_response(200, queue_json(views.front()));
}

asio::awaitable<Answer> get_queue(ApiContext& ctx, RouteRequest request) {
    const auto queue = queue_name(request);
    if (!queue) co_return queue.error();
    co_return co_await queue_answer(ctx, *queue);
}

// Changes the queue's settings and answers it as GET shows it. Jobs held back by the old
// settings may run now: the dispatcher and the long polls look again.
asio::awaitable<Answer> change_queue(ApiContext& ctx, const RouteRequest& request, core::QueueSettingsPatch patch) {
    if (ctx.draining)
        co_return core::make_error(core::errc::unavailable, "the server is shutting down", "shutting_down");
    const auto queue = queue_name(request);
    if (!queue) co_return queue.error();
    if (!valid_queue_name(*queue))
        co_return core::make_error(core::errc::invalid,
                                   "a queue's name is 1 to 128 bytes of UTF-8 without control characters",
                                   "invalid_name");
    co_await ctx.stores.queues.update_queue(*queue, patch);
    ctx.notifier.notify_enqueued();
    wake_lease_waiters(ctx);
    co_return co_await queue_answer(ctx, *queue, true);
}

asio::awaitable<Answer> patch_queue(ApiContext& ctx, RouteRequest request) {
    if (auto accepted = accepts_submission(ctx, request.http); !accepted) co_return accepted.error();
    auto patch = parse_queue_patch(request.http.body);
    if (!patch) co_return patch.error();
    co_return co_await change_queue(ctx, request, *patch);
}

core::QueueSettingsPatch pausing(bool paused) {
    core::QueueSettingsPatch patch;
    patch.paused = paused;
    return patch;
}

asio::awaitable<Answer> pause_queue(ApiContext& ctx, RouteRequest request) {
    co_return co_await change_queue(ctx, request, pausing(true));
}

asio::awaitable<Answer> resume_queue(ApiContext& ctx, RouteRequest request) {
    co_return co_await change_queue(ctx, request, pausing(false));
}

}  // namespace

void add_queue_routes(RouteTable& table) {
    table.add({.method = "GET", .pattern = "/queues", .handler = list_queues});
    table.add({.method = "GET", .pattern = "/queues/{name}", .handler = get_queue});
    table.add({.method = "PATCH", .pattern = "/queues/{name}", .handler = patch_queue});
    table.add({.method = "POST", .pattern = "/queues/{name}/pause", .handler = pause_queue});
    table.add({.method = "POST", .pattern = "/queues/{name}/resume", .handler = resume_queue});
    table.add({.method = "POST", .pattern = "/queues/{name}/retry-failed", .handler = retry_failed});
    table.add({.method = "POST", .pattern = "/queues/{name}/purge", .handler = purge});
}

}  // namespace jobq::app
