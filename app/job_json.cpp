#include "app/job_json.hpp"

#include "app/json_text.hpp"

#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <array>

namespace jobq::app {

namespace json = boost::json;

namespace {

constexpr std::int64_t max_max_retries = 1000;
constexpr std::int64_t max_delay_ms = 10LL * 365 * 86'400'000;  // ten years
constexpr std::size_t max_name_length = 128;
constexpr std::size_t max_idempotency_key_length = 256;
constexpr std::array<std::string_view, 8> known_fields = {"type",   "payload", "max_retries", "run_at",
                                                          "delay_ms", "queue", "priority",    "idempotency_key"};

ApiError field_error(std::string_view field, std::string_view problem) {
    return {400, "invalid_field", std::string(field) + " " + std::string(problem)};
}

// Each reader returns an error for a present but unacceptable field.
std::optional<ApiError> read_string(const json::object& o, std::string_view field, std::size_t max_length,
                                    std::optional<std::string>& out) {
    const auto* v = o.if_contains(field);
    if (!v || v->is_null()) return std::nullopt;
    if (!v->is_string()) return field_error(field, "must be a string");
    const auto& s = v->get_string();
    if (s.empty() || s.size() > max_length)
        return field_error(field, "must be 1 to " + std::to_string(max_length) + " bytes long");
    out = std::string(s);
    return std::nullopt;
}

std::optional<ApiError> read_integer(const json::object& o, std::string_view field, std::int64_t min,
                                     std::int64_t max, std::optional<std::int64_t>& out) {
    const auto* v = o.if_contains(field);
    if (!v || v->is_null()) return std::nullopt;
    std::optional<std::int64_t> n;
    if (v->is_int64()) n = v->get_int64();
    else if (v->is_uint64() && v->get_uint64() <= static_cast<std::uint64_t>(max)) n = static_cast<std::int64_t>(v->get_uint64());
    else if (!v->is_uint64()) return field_error(field, "must be an integer");
    if (!n || *n < min || *n > max)
        return field_error(field, "must be from " + std::to_string(min) + " to " + std::to_string(max));
    out = n;
    return std::nullopt;
}

std::optional<ApiError> read_run_at(const json::object& o, core::millis now, core::millis& run_at) {
    std::optional<std::string> run_at_text;
    std::optional<std::int64_t> delay;
    if (auto e = read_string(o, "run_at", 64, run_at_text)) return e;
    if (auto e = read_integer(o, "delay_ms", 0, max_delay_ms, delay)) return e;
    if (run_at_text && delay) return field_error("run_at", "and delay_ms cannot both be given");
    run_at = now;
    if (delay) run_at = now + *delay;
    if (run_at_text) {
        const auto t = core::parse_rfc3339(*run_at_text);
        if (!t) return field_error("run_at", "must be an RFC 3339 time such as 2026-01-31T12:00:00Z");
        run_at = *t;
    }
    return std::nullopt;
}

}  // namespace

std::variant<json::value, ApiError> parse_json_body(std::string_view body, json::storage_ptr storage) {
    json::parse_options options;
    options.max_depth = 64;
    json::error_code ec;
    json::value value = json::parse(body, ec, std::move(storage), options);
    if (ec) return ApiError{400, "invalid_json", "request body is not valid JSON: " + ec.message()};
    return value;
}

std::variant<core::JobSpec, ApiError> job_spec_from_json(const json::value& value,
                                                         const core::HandlerRegistry& handlers, core::millis now) {
    const auto* o = value.if_object();
    if (!o) return ApiError{400, "invalid_json", "a job must be a JSON object"};
    for (const auto& entry : *o) {
        if (std::find(known_fields.begin(), known_fields.end(), entry.key()) == known_fields.end())
            return ApiError{400, "unknown_field", "unknown field '" + std::string(entry.key()) + "'"};
    }

    core::JobSpec spec;
    std::optional<std::string> type, queue;
    if (auto e = read_string(*o, "type", max_name_length, type)) return *e;
    if (!type) return ApiError{400, "missing_field", "type is required"};
    const core::Handler* handler = handlers.find(*type);
    if (!handler) return ApiError{400, "unknown_type", "no job type '" + *type + "'"};
    spec.type = std::move(*type);

    const auto* payload = o->if_contains("payload");
    if (!payload) return ApiError{400, "missing_field", "payload is required"};
    if (auto problem = handler->validate(*payload)) return ApiError{400, "invalid_payload", *problem};
    spec.payload = json::serialize(*payload);

    std::optional<std::int64_t> max_retries, priority;
    if (auto e = read_integer(*o, "max_retries", 0, max_max_retries, max_retries)) return *e;
    if (auto e = read_integer(*o, "priority", -1'000'000, 1'000'000, priority)) return *e;
    if (auto e = read_string(*o, "queue", max_name_length, queue)) return *e;
    if (auto e = read_string(*o, "idempotency_key", max_idempotency_key_length, spec.idempotency_key)) return *e;
    if (auto e = read_run_at(*o, now, spec.run_at)) return *e;
    if (max_retries) spec.max_retries = static_cast<std::int32_t>(*max_retries);
    if (priority) spec.priority = *priority;
    if (queue) spec.queue = std::move(*queue);
    return spec;
}

std::variant<core::JobSpec, ApiError> parse_job_spec(std::string_view body, const core::HandlerRegistry& handlers,
                                                     core::millis now) {
    // The parsed document lives only until the spec is taken out of it: its nodes go into
    // one arena (on the stack while it fits) instead of one allocation each.
    unsigned char arena[4096];
    json::monotonic_resource resource(arena, sizeof arena);
    auto parsed = parse_json_body(body, &resource);
    if (auto* error = std::get_if<ApiError>(&parsed)) return *error;
    return job_spec_from_json(std::get<json::value>(parsed), handlers, now);
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
        .close();
}

std::string job_to_json(const core::Job& job) {
    std::string out;
    out.reserve(320 + job.payload.size());
    append_job_json(out, job);
    return out;
}

}  // namespace jobq::app
