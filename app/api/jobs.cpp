// Jobs: submit (POST /jobs, and /createJob, the seed's name for it), read one, list them,
// and the operator's changes (retry, cancel, delete).

#include "app/api/routes.hpp"
#include "app/api/toolkit.hpp"
#include "app/job_json.hpp"
#include "app/json_text.hpp"

#include <algorithm>

namespace jobq::app {

namespace asio = boost::asio;

namespace {

constexpr std::size_t default_page = 100;
constexpr std::size_t max_page = 1'000;

asio::awaitable<Answer> create_job(ApiContext& ctx, RouteRequest request) {
    if (auto accepted = accepts_submission(ctx, request.http); !accepted) co_return accepted.error();
    auto spec = parse_job_spec(request.http.body, ctx.handlers, ctx.clock(), ctx.options.external_types);
    if (!spec) co_return spec.error();
    const auto admission = admit_writes(ctx, 1);
    if (!admission) co_return admission.error();

    const core::EnqueueResult result = co_await ctx.stores.jobs.enqueue(std::move(*spec));
    if (result.created) {
        if (result.job.external) wake_lease_waiters(ctx);
        ctx.notifier.notify_enqueued();
        if (ctx.metrics) ctx.metrics->jobs_enqueued.add();
    }
    co_return Answer{json_response(result.created ? 201 : 200, job_to_json(result.job)), result.job.id};
}

asio::awaitable<Answer> get_job(ApiContext& ctx, RouteRequest request) {
    const auto id = job_id_of(request);
    if (!id) co_return id.error();
    const auto job = co_await ctx.stores.jobs.get(*id);
    // The worker token reads the jobs workers lease, not the others' payloads.
    if (!job || (request.by_worker && !job->external)) co_return no_such_job(*id);
    co_return Answer{json_response(200, job_to_json(*job)), *id};
}

// {"attempt", "outcome", "error", "started_at", "finished_at", "duration_ms"}: times in
// RFC 3339, null when unknown (running, or recorded before the history kept starts).
std::string attempt_json(const core::JobAttempt& a) {
    std::string out;
    JsonObjectWriter writer(out);
    writer.integer("attempt", a.attempt).string("outcome", a.outcome).string_or_null("error", a.error);
    writer.time_or_null("started_at", a.started_at).time_or_null("finished_at", a.finished_at);
    if (a.started_at && a.finished_at)
        writer.integer("duration_ms", std::max<core::millis>(0, *a.finished_at - *a.started_at));
    else
        writer.raw("duration_ms", "null");
    writer.close();
    return out;
}

// GET /jobs/{id}/attempts: {"id", "attempts": [...]}, oldest first; read beside the writer.
asio::awaitable<Answer> get_attempts(ApiContext& ctx, RouteRequest request) {
    const auto id = job_id_of(request);
    if (!id) co_return id.error();
    const auto attempts = co_await ctx.stores.reader.attempts(*id);
    if (!attempts) co_return no_such_job(*id);
    std::string body = R"({"id":)" + std::to_string(*id) + R"(,"attempts":[)";
    for (std::size_t i = 0; i < attempts->size(); ++i) {
        if (i) body += ',';
        body += attempt_json((*attempts)[i]);
    }
    body += "]}";
    co_return Answer{json_response(200, std::move(body)), *id};
}

// --- listing

struct ListQuery {
    core::JobFilter filter;
    std::optional<core::job_id> after = std::nullopt;
    std::size_t limit = default_page;
};

core::Result<core::JobFilter> parse_filter(const QueryParams& params) {
    core::JobFilter filter;
    for (const auto& [name, value] : params) {
        if (name == "state") {
            filter.state = core::parse_job_state(value);
            if (!filter.state) return invalid_query("state must be queued, processing, done, failed or cancelled");
        } else if (name == "type") {
            filter.type = value;
        } else if (name == "queue") {
            filter.queue = value;
        } else if (name != "limit" && name != "cursor") {
            return invalid_query("unknown query parameter '" + name + "'");
        }
    }
    return filter;
}

core::Result<ListQuery> parse_list_query(const net::HttpRequest& request) {
    const auto params = query_params(request);
    if (!params) return params.error();
    auto filter = parse_filter(*params);
    if (!filter) return filter.error();
    ListQuery query{std::move(*filter)};
    if (const auto it = params->find("limit"); it != params->end()) {
        const auto n = parse_positive(it->second);
        if (!n || *n > static_cast<std::int64_t>(max_page))
            return invalid_query("limit must be from 1 to " + std::to_string(max_page));
        query.limit = static_cast<std::size_t>(*n);
    }
    if (const auto it = params->find("cursor"); it != params->end()) {
        query.after = parse_positive(it->second);
        if (!query.after) return invalid_query("cursor must be a next_cursor from a previous page");
    }
    return query;
}

// {"jobs":[...],"next_cursor":"42"}; next_cursor is null on the last page.
std::string page_json(const core::JobPage& page) {
    std::string body = R"({"jobs":[)";
    for (std::size_t i = 0; i < page.jobs.size(); ++i) {
        if (i) body += ',';
        append_job_json(body, page.jobs[i]);
    }
    body += R"(],"next_cursor":)";
    if (page.next_cursor) append_json_string(body, std::to_string(*page.next_cursor));
    else body += "null";
    body += '}';
    return body;
}

asio::awaitable<Answer> list_jobs(ApiContext& ctx, RouteRequest request) {
    auto query = parse_list_query(request.http);
    if (!query) co_return query.error();
    const auto page = co_await ctx.stores.reader.list(std::move(query->filter), query->after, query->limit);
    co_return json_response(200, page_json(page));
}

// --- the operator's changes

// Whether the change was made, or why not: no such job (404), or a state that forbids it
// (409, naming the state and `only`, the rule).
core::Result<void> changed(const core::JobChange& change, core::job_id id, std::string_view only) {
    switch (change.outcome) {
        case core::JobChange::Outcome::not_found: return no_such_job(id);
        case core::JobChange::Outcome::conflict: {
            const std::string state(core::to_string(change.job->state));
            return core::make_error(core::errc::conflict,
                                    "job " + std::to_string(id) + " is " + state + "; " + std::string(only), "conflict");
        }
        case core::JobChange::Outcome::changed: break;
    }
    return {};
}

asio::awaitable<Answer> retry_job(ApiContext& ctx, RouteRequest request) {
    const auto id = job_id_of(request);
    if (!id) co_return id.error();
    const auto change = co_await ctx.stores.actions.retry(*id, ctx.clock());
    if (auto ok = changed(change, *id, "only failed or cancelled jobs can be retried"); !ok)
        co_return Answer{ok.error(), *id};
    if (change.job->external) wake_lease_waiters(ctx);
    ctx.notifier.notify_enqueued();
    co_return Answer{json_response(200, job_to_json(*change.job)), *id};
}

asio::awaitable<Answer> cancel_job(ApiContext& ctx, RouteRequest request) {
    const auto id = job_id_of(request);
    if (!id) co_return id.error();
    const auto change = co_await ctx.stores.actions.cancel(*id, ctx.clock());
    if (auto ok = changed(change, *id, "only queued jobs can be cancelled"); !ok) co_return Answer{ok.error(), *id};
    co_return Answer{json_response(200, job_to_json(*change.job)), *id};
}

asio::awaitable<Answer> delete_job(ApiContext& ctx, RouteRequest request) {
    const auto id = job_id_of(request);
    if (!id) co_return id.error();
    const auto change = co_await ctx.stores.actions.remove(*id);
    if (auto ok = changed(change, *id, "a job cannot be deleted while it runs"); !ok) co_return Answer{ok.error(), *id};
    co_return Answer{no_content(), *id};
}

}  // namespace

// The order of a path's routes is the order of its Allow header ("POST, GET").
void add_job_routes(RouteTable& table) {
    table.add({.method = "POST", .pattern = "/jobs", .handler = create_job});
    table.add({.method = "GET", .pattern = "/jobs", .handler = list_jobs});
    table.add({.method = "POST", .pattern = "/createJob", .handler = create_job});
    table.add({.method = "GET", .pattern = "/jobs/{id}", .handler = get_job, .grant = Grant::worker_read});
    table.add({.method = "GET", .pattern = "/jobs/{id}/attempts", .handler = get_attempts});
    table.add({.method = "DELETE", .pattern = "/jobs/{id}", .handler = delete_job});
    table.add({.method = "POST", .pattern = "/jobs/{id}/retry", .handler = retry_job});
    table.add({.method = "POST", .pattern = "/jobs/{id}/cancel", .handler = cancel_job});
}

}  // namespace jobq::app
