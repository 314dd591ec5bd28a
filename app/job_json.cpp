#include "app/job_json.hpp"

#include "app/api/toolkit.hpp"
#include "app/json_text.hpp"

#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <algorithm>
#include <array>
#include <optional>

namespace jobq::app {

namespace json = boost::json;

namespace {

constexpr std::int64_t max_max_retries = 1000;
constexpr std::int64_t max_delay_ms = 10LL * 365 * 86'400'000;  // ten years
constexpr std::size_t max_name_length = 128;
constexpr std::size_t max_idempotency_key_length = 256;
constexpr std::array<std::string_view, 8> known_fields = {"type",   "payload", "max_retries", "run_at",
                                                          "delay_ms", "queue", "priority",    "idempotency_key"};

core::Error invalid(std::string_view name, std::string message) {
    return core::make_error(core::errc::invalid, std::move(message), std::string(name));
}

core::Error field_error(std::string_view field, std::string_view problem) {
    return invalid("invalid_field", std::string(field) + " " + std::string(problem));
}

// Each reader answers nullopt for an absent (or null) field and an error for a present
// but unacceptable one.
core::Result<std::optional<std::string>> read_string(const json::object& o, std::string_view field,
                                                     std::size_t max_length) {
    const auto* v = o.if_contains(field);
    if (!v || v->is_null()) return std::optional<std::string>();
    if (!v->is_string()) return field_error(field, "must be a string");
    const auto& s = v->get_string();
    if (s.empty() || s.size() > max_length)
        return field_error(field, "must be 1 to " + std::to_string(max_length) + " bytes long");
    return std::optional<std::string>(std::string(s));
}

core::Result<std::optional<std::int64_t>> read_integer(const json::object& o, std::string_view field,
                                                       std::int64_t min, std::int64_t max) {
    const auto* v = o.if_contains(field);
    if (!v || v->is_null()) return std::optional<std::int64_t>();
    std::optional<std::int64_t> n;
    if (v->is_int64()) n = v->get_int64();
    else if (v->is_uint64() && v->get_uint64() <= static_cast<std::uint64_t>(max)) n = static_cast<std::int64_t>(v->get_uint64());
    else if (!v->is_uint64()) return field_error(field, "must be an integer");
    if (!n || *n < min || *n > max)
        return field_error(field, "must be from " + std::to_string(min) + " to " + std::to_string(max));
    return n;
}

// run_at (an RFC 3339 time) or delay_ms (from now), not both; now when neither is given.
core::Result<core::millis> read_run_at(const json::object& o, core::millis now) {
    const auto text = read_string(o, "run_at", 64);
    if (!text) return text.error();
    const auto delay = read_integer(o, "delay_ms", 0, max_delay_ms);
    if (!delay) return delay.error();
    if (*text && *delay) return field_error("run_at", "and delay_ms cannot both be given");
    if (*delay) return now + **delay;
    if (!*text) return now;
    const auto t = core::parse_rfc3339(**text);
    if (!t) return field_error("run_at", "must be an RFC 3339 time such as 2026-01-31T12:00:00Z");
    return *t;
}

// The job's type, known to the registry, and its payload, accepted by the type's handler.
core::Result<void> read_type_and_payload(const json::object& o, const core::HandlerRegistry& handlers,
                                         const core::ExternalTypes& external, core::JobSpec& spec) {
    auto type = read_string(o, "type", max_name_length);
    if (!type) return type.error();
    if (!*type) return invalid("missing_field", "type is required");
    const core::Handler* handler = handlers.find(**type);
    spec.external = !handler && external.admits(**type);
    if (!handler && !spec.external) return invalid("unknown_type", "no job type '" + **type + "'");
    spec.type = std::move(**type);

    const auto* payload = o.if_contains("payload");
    if (!payload) return invalid("missing_field", "payload is required");
    // An external job's payload is its worker's business: any JSON.
    if (auto problem = handler ? handler->validate(*payload) : std::nullopt)
        return invalid("invalid_payload", std::move(*problem));
    spec.payload = json::serialize(*payload);
    return {};
}

// The optional fields, read in the order their errors are reported.
core::Result<void> read_options(const json::object& o, core::millis now, core::JobSpec& spec) {
    const auto max_retries = read_integer(o, "max_retries", 0, max_max_retries);
    if (!max_retries) return max_retries.error();
    const auto priority = read_integer(o, "priority", -1'000'000, 1'000'000);
    if (!priority) return priority.error();
    auto queue = read_string(o, "queue", max_name_length);
    if (!queue) return queue.error();
    auto key = read_string(o, "idempotency_key", max_idempotency_key_length);
    if (!key) return key.error();
    const auto run_at = read_run_at(o, now);
    if (!run_at) return run_at.error();

    if (*max_retries) spec.max_retries = static_cast<std::int32_t>(**max_retries);
    if (*priority) spec.priority = **priority;
    if (*queue) spec.queue = std::move(**queue);
    spec.idempotency_key = std::move(*key);
    spec.run_at = *run_at;
    return {};
}

}  // namespace

core::Result<core::JobSpec> job_spec_from_json(const json::value& value, const core::HandlerRegistry& handlers,
                                               core::millis now, const core::ExternalTypes& external) {
    const auto* o = value.if_object();
    if (!o) return invalid("invalid_json", "a job must be a JSON object");
    for (const auto& entry : *o) {
        if (std::find(known_fields.begin(), known_fields.end(), entry.key()) == known_fields.end())
            return invalid("unknown_field", "unknown field '" + std::string(entry.key()) + "'");
    }
    core::JobSpec spec;
    if (auto read = read_type_and_payload(*o, handlers, external, spec); !read) return read.error();
    if (auto read = read_options(*o, now, spec); !read) return read.error();
    return spec;
}

core::Result<core::JobSpec> parse_job_spec(std::string_view body, const core::HandlerRegistry& handlers,
                                           core::millis now, const core::ExternalTypes& external) {
    // The parsed document lives only until the spec is taken out of it: its nodes go into
    // one arena (on the stack while it fits) instead of one allocation each.
    unsigned char arena[4096];
    json::monotonic_resource resource(arena, sizeof arena);
    const auto parsed = parse_json_body(body, &resource);
    if (!parsed) return parsed.error();
    return job_spec_from_json(*parsed, handlers, now, external);
}

void append_job_json(std::string& out, const core::Job& job) {
    JsonObjectWriter(out)
        .integer("id", job.id)
        .string("type", job.type)
        .string("queue", job.queue)
        .integer("priority", job.priority)
        .string("state", core::to_string(job.state))
        .integer("attempts", job.attempts_since_retry())
        .integer("attempts_total", job.attempts)
        .integer("max_retries", job.max_retries)
        .raw("payload", job.payload)
        .string_or_null("idempotency_key", job.idempotency_key)
        .time_or_null("run_at", job.run_at)
        .string_or_null("last_error", job.last_error)
        .time_or_null("created_at", job.created_at)
        .time_or_null("started_at", job.started_at)
        .time_or_null("finished_at", job.finished_at)
        .string_or_null("worker", job.worker)
        .raw("result", job.result ? std::string_view(*job.result) : std::string_view("null"))
        .close();
}

std::string job_to_json(const core::Job& job) {
    std::string out;
    out.reserve(320 + job.payload.size());
    append_job_json(out, job);
    return out;
}

}  // namespace jobq::app
