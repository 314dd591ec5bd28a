// Schedules: PUT /schedules/{name} (create or replace), GET /schedules, GET and DELETE
// /schedules/{name}, POST /schedules/{name}/trigger (one job now, outside the cadence).
// The job template is checked by its handler when the schedule is put: a bad template is
// a 400 now, not a dead job at every tick.

#include "app/api/routes.hpp"
#include "app/api/toolkit.hpp"
#include "app/job_json.hpp"
#include "app/json_text.hpp"
#include "core/cron.hpp"
#include "core/external_types.hpp"
#include "core/schedule.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <array>

namespace jobq::app {

namespace asio = boost::asio;
namespace json = boost::json;

namespace {

constexpr std::array<std::string_view, 5> schedule_fields = {"cron", "timezone", "job", "catch_up", "paused"};
// A template has no run_at, delay or idempotency key: each tick gets its own.
constexpr std::array<std::string_view, 5> template_fields = {"type", "payload", "queue", "priority", "max_retries"};

core::Error invalid(std::string_view name, std::string message) {
    return core::make_error(core::errc::invalid, std::move(message), std::string(name));
}

core::Error no_such_schedule(std::string_view name) {
    return core::make_error(core::errc::not_found, "no schedule '" + std::string(name) + "'");
}

bool known(std::string_view key, const std::array<std::string_view, 5>& fields) {
    return std::find(fields.begin(), fields.end(), key) != fields.end();
}

core::Result<std::string> optional_string(const json::object& o, std::string_view key, std::string fallback) {
    const auto* value = o.if_contains(key);
    if (!value) return fallback;
    if (!value->is_string()) return invalid("invalid_field", std::string(key) + " must be a string");
    return std::string(value->as_string());
}

core::Result<core::JobSpec> parse_template(const ApiContext& ctx, const json::value* job) {
    if (!job) return invalid("missing_field", "job is required: {\"type\", \"payload\", ...}");
    if (!job->is_object()) return invalid("invalid_field", "job must be an object");
    for (const auto& entry : job->as_object())
        if (!known(entry.key(), template_fields))
            return invalid("unknown_field", "unknown field 'job." + std::string(entry.key()) + "'");
    auto spec = job_spec_from_json(*job, ctx.handlers, ctx.clock(), ctx.options.external_types);
    if (!spec) {
        auto error = spec.error();
        error.message = "job: " + error.message;
        return error;
    }
    return spec;
}

// The schedule a PUT body describes, anchored at `now`, its next tick computed.
core::Result<core::Schedule> parse_schedule(const ApiContext& ctx, std::string_view name, std::string_view body,
                                            core::millis now) {
    if (!core::valid_type_name(name))
        return invalid("invalid_name", "a schedule's name is 1 to 128 of A-Z a-z 0-9 _ . : -");
    auto parsed = parse_json_body(body);
    if (!parsed) return parsed.error();
    const auto* o = parsed->if_object();
    if (!o) return invalid("invalid_json", "a schedule must be a JSON object");
    for (const auto& entry : *o)
        if (!known(entry.key(), schedule_fields))
            return invalid("unknown_field", "unknown field '" + std::string(entry.key()) + "'");

    core::Schedule schedule;
    schedule.name = std::string(name);
    const auto* cron_text = o->if_contains("cron");
    if (!cron_text) return invalid("missing_field", "cron is required");
    if (!cron_text->is_string()) return invalid("invalid_field", "cron must be a string");
    schedule.cron = std::string(cron_text->as_string());
    const auto expression = core::cron::parse(schedule.cron);
    if (!expression) return invalid("invalid_cron", "cron: " + expression.error().message);

    auto timezone = optional_string(*o, "timezone", "UTC");
    if (!timezone) return timezone.error();
    schedule.timezone = std::move(*timezone);
    const auto* zone = core::cron::find_zone(schedule.timezone);
    if (!zone) return invalid("invalid_field", "timezone: no time zone '" + schedule.timezone + "' (an IANA name such as Europe/Berlin)");

    auto catch_up = optional_string(*o, "catch_up", "latest");
    if (!catch_up) return catch_up.error();
    const auto policy = core::parse_catch_up(*catch_up);
    if (!policy) return invalid("invalid_field", "catch_up must be none, latest or all");
    schedule.catch_up = *policy;

    if (const auto* paused = o->if_contains("paused")) {
        if (!paused->is_bool()) return invalid("invalid_field", "paused must be true or false");
        schedule.paused = paused->as_bool();
    }
    auto spec = parse_template(ctx, o->if_contains("job"));
    if (!spec) return spec.error();
    schedule.job = std::move(*spec);
    schedule.job.idempotency_key.reset();
    schedule.anchor = now;
    // Ticks missed while paused are not caught up: a resumed schedule starts from now.
    schedule.next_run_at = core::cron::next_tick(*expression, *zone, now, now);
    if (!schedule.next_run_at) return invalid("invalid_cron", "cron: it would not fire within thirty years");
    return schedule;
}

std::string schedule_json(const core::Schedule& s) {
    std::string job;
    JsonObjectWriter(job)
        .string("type", s.job.type)
        .raw("payload", s.job.payload)
        .string("queue", s.job.queue)
        .integer("priority", s.job.priority)
        .integer("max_retries", s.job.max_retries)
        .close();
    std::string out;
    JsonObjectWriter writer(out);
    writer.string("name", s.name)
        .string("cron", s.cron)
        .string("timezone", s.timezone)
        .raw("job", job)
        .string("catch_up", core::to_string(s.catch_up))
        .raw("paused", s.paused ? "true" : "false")
        .time_or_null("next_run_at", s.paused ? std::nullopt : s.next_run_at)
        .time_or_null("last_run_at", s.last_run_at);
    if (s.last_job_id) writer.integer("last_job_id", *s.last_job_id);
    else writer.raw("last_job_id", "null");
    writer.close();
    return out;
}

void schedules_changed(ApiContext& ctx) {
    if (ctx.options.schedules_changed) ctx.options.schedules_changed();
}

asio::awaitable<Answer> put_schedule(ApiContext& ctx, RouteRequest request) {
    if (auto accepted = accepts_submission(ctx, request.http); !accepted) co_return accepted.error();
    auto schedule = parse_schedule(ctx, request.id, request.http.body, ctx.clock());
    if (!schedule) co_return schedule.error();
    const std::string name = schedule->name;
    const bool created = co_await ctx.stores.schedules.put_schedule(std::move(*schedule));
    schedules_changed(ctx);
    const auto stored = co_await ctx.stores.schedules.get_schedule(name);
    if (!stored) co_return no_such_schedule(name);  // deleted meanwhile
    co_return json_response(created ? 201 : 200, schedule_json(*stored));
}

asio::awaitable<Answer> list_schedules(ApiContext& ctx, RouteRequest) {
    const auto schedules = co_await ctx.stores.schedules.list_schedules();
    std::string body = R"({"schedules":[)";
    for (std::size_t i = 0; i < schedules.size(); ++i) {
        if (i) body += ',';
        body += schedule_json(schedules[i]);
    }
    body += "]}";
    co_return json_response(200, std::move(body));
}

asio::awaitable<Answer> get_schedule(ApiContext& ctx, RouteRequest request) {
    const auto schedule = co_await ctx.stores.schedules.get_schedule(std::string(request.id));
    if (!schedule) co_return no_such_schedule(request.id);
    co_return json_response(200, schedule_json(*schedule));
}

asio::awaitable<Answer> delete_schedule(ApiContext& ctx, RouteRequest request) {
    const bool deleted = co_await ctx.stores.schedules.delete_schedule(std::string(request.id));
    if (!deleted) co_return no_such_schedule(request.id);
    schedules_changed(ctx);
    co_return no_content();
}

// One job of the template now, outside the cadence: the schedule's ticks are unchanged.
asio::awaitable<Answer> trigger_schedule(ApiContext& ctx, RouteRequest request) {
    if (ctx.draining) co_return core::make_error(core::errc::unavailable, "the server is shutting down", "shutting_down");
    const auto schedule = co_await ctx.stores.schedules.get_schedule(std::string(request.id));
    if (!schedule) co_return no_such_schedule(request.id);
    const auto admission = admit_writes(ctx, 1);
    if (!admission) co_return admission.error();
    core::JobSpec spec = schedule->job;
    spec.run_at = ctx.clock();
    const auto result = co_await ctx.stores.jobs.enqueue(std::move(spec));
    if (result.job.external) wake_lease_waiters(ctx);
    ctx.notifier.notify_enqueued();
    if (ctx.metrics) ctx.metrics->jobs_enqueued.add();
    co_return Answer{json_response(201, job_to_json(result.job)), result.job.id};
}

}  // namespace

void add_schedule_routes(RouteTable& table) {
    table.add({.method = "GET", .pattern = "/schedules", .handler = list_schedules});
    table.add({.method = "PUT", .pattern = "/schedules/{name}", .handler = put_schedule});
    table.add({.method = "GET", .pattern = "/schedules/{name}", .handler = get_schedule});
    table.add({.method = "DELETE", .pattern = "/schedules/{name}", .handler = delete_schedule});
    table.add({.method = "POST", .pattern = "/schedules/{name}/trigger", .handler = trigger_schedule});
}

}  // namespace jobq::app
