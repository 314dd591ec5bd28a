#include "app/job_json.hpp"

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

void put_time(json::object& o, std::string_view key, const std::optional<core::millis>& t) {
    if (t) o[key] = core::format_rfc3339(*t);
    else o[key] = nullptr;
}

}  // namespace

std::variant<json::value, ApiError> parse_json_body(std::string_view body) {
    json::parse_options options;
    options.max_depth = 64;
    json::error_code ec;
    json::value value = json::parse(body, ec, {}, options);
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
    auto parsed = parse_json_body(body);
    if (auto* error = std::get_if<ApiError>(&parsed)) return *error;
    return job_spec_from_json(std::get<json::value>(parsed), handlers, now);
}

json::object job_to_json(const core::Job& job) {
    json::object o;
    o["id"] = job.id;
    o["type"] = job.type;
    o["queue"] = job.queue;
    o["priority"] = job.priority;
    o["state"] = core::to_string(job.state);
    o["attempts"] = job.attempts;
    o["max_retries"] = job.max_retries;
    json::error_code ec;
    o["payload"] = json::parse(job.payload, ec);
    if (job.idempotency_key) o["idempotency_key"] = *job.idempotency_key;
    else o["idempotency_key"] = nullptr;
    o["run_at"] = core::format_rfc3339(job.run_at);
    if (job.last_error) o["last_error"] = *job.last_error;
    else o["last_error"] = nullptr;
    o["created_at"] = core::format_rfc3339(job.created_at);
    put_time(o, "started_at", job.started_at);
    put_time(o, "finished_at", job.finished_at);
    return o;
}

}  // namespace jobq::app
