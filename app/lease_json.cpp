#include "app/lease_json.hpp"

#include "app/api/toolkit.hpp"
#include "app/job_json.hpp"
#include "app/json_text.hpp"

#include <boost/json/serialize.hpp>

#include <algorithm>
#include <initializer_list>
#include <set>

namespace jobq::app {

namespace json = boost::json;

namespace {

constexpr std::size_t max_leased = 1000;
constexpr core::millis max_wait_ms = 60'000;
constexpr core::millis min_lease_ms = 1'000;
constexpr core::millis max_lease_ms = 86'400'000;
constexpr core::millis max_delay_ms = 86'400'000;
constexpr std::size_t max_name = 128;
constexpr std::size_t max_names = 100;
constexpr std::size_t max_result_bytes = 64 * 1024;
constexpr std::size_t max_error_bytes = 64 * 1024;
constexpr std::size_t max_token = 256;
constexpr std::size_t max_settled = 1000;

core::Error invalid(std::string_view code, std::string message) {
    return core::make_error(core::errc::invalid, std::move(message), std::string(code));
}

core::Error bad_field(std::string_view field, std::string_view problem) {
    return invalid("invalid_field", std::string(field) + " " + std::string(problem));
}

core::Result<const json::object*> object_body(const json::value& v, std::string_view what) {
    if (!v.is_object()) return invalid("invalid_json", std::string(what) + " must be a JSON object");
    return &v.as_object();
}

core::Result<void> only_known(const json::object& o, std::initializer_list<std::string_view> known) {
    for (const auto& member : o)
        if (std::find(known.begin(), known.end(), member.key()) == known.end())
            return invalid("unknown_field", "unknown field '" + std::string(member.key()) + "'");
    return {};
}

core::Result<std::optional<std::int64_t>> integer(const json::object& o, std::string_view field, std::int64_t lo,
                                                  std::int64_t hi) {
    const auto* v = o.if_contains(field);
    if (!v || v->is_null()) return std::optional<std::int64_t>();
    if (!v->is_int64() && !v->is_uint64()) return bad_field(field, "must be an integer");
    const auto n = v->is_int64() ? v->as_int64() : static_cast<std::int64_t>(std::min<std::uint64_t>(v->as_uint64(), INT64_MAX));
    if (n < lo || n > hi) return bad_field(field, "must be from " + std::to_string(lo) + " to " + std::to_string(hi));
    return std::optional<std::int64_t>(n);
}

core::Result<std::optional<std::string>> text(const json::object& o, std::string_view field, std::size_t max_length,
                                              bool required = false) {
    const auto* v = o.if_contains(field);
    if (!v || v->is_null()) {
        if (required) return invalid("missing_field", std::string(field) + " is required");
        return std::optional<std::string>();
    }
    if (!v->is_string()) return bad_field(field, "must be a string");
    const auto& s = v->as_string();
    if (s.empty() || s.size() > max_length)
        return bad_field(field, "must hold 1 to " + std::to_string(max_length) + " characters");
    return std::optional<std::string>(std::string(s));
}

core::Result<std::vector<std::string>> names(const json::object& o, std::string_view field) {
    const auto* v = o.if_contains(field);
    if (!v || v->is_null()) return std::vector<std::string>();
    if (!v->is_array() || v->as_array().empty() || v->as_array().size() > max_names)
        return bad_field(field, "must be an array of 1 to " + std::to_string(max_names) + " names");
    std::vector<std::string> out;
    for (const auto& entry : v->as_array()) {
        if (!entry.is_string() || entry.as_string().empty() || entry.as_string().size() > max_name)
            return bad_field(field, "must hold names of 1 to " + std::to_string(max_name) + " characters");
        out.emplace_back(entry.as_string());
    }
    return out;
}

// The fields of one ending, from `o` (a body, or an entry of /leases/settle).
core::Result<LeaseEnd> lease_end(const json::object& o, LeaseEnd::Kind kind, bool with_id) {
    using Kind = LeaseEnd::Kind;
    LeaseEnd end;
    end.kind = kind;
    switch (kind) {
        case Kind::ack: {
            auto known = with_id ? only_known(o, {"id", "token", "result"}) : only_known(o, {"token", "result"});
            if (!known) return known.error();
            if (const auto* r = o.if_contains("result"); r && !r->is_null()) {
                auto serialized = json::serialize(*r);
                if (serialized.size() > max_result_bytes) return bad_field("result", "is larger than 64 KiB");
                end.result = std::move(serialized);
            }
            break;
        }
        case Kind::fail: {
            auto known = with_id ? only_known(o, {"id", "token", "error", "retryable", "retry_in_ms"})
                                 : only_known(o, {"token", "error", "retryable", "retry_in_ms"});
            if (!known) return known.error();
            auto error = text(o, "error", max_error_bytes, true);
            if (!error) return error.error();
            end.error = std::move(**error);
            if (const auto* r = o.if_contains("retryable"); r && !r->is_null()) {
                if (!r->is_bool()) return bad_field("retryable", "must be true or false");
                end.retryable = r->as_bool();
            }
            auto retry_in = integer(o, "retry_in_ms", 0, max_delay_ms);
            if (!retry_in) return retry_in.error();
            end.retry_in_ms = *retry_in;
            break;
        }
        case Kind::release: {
            auto known = only_known(o, {"token", "delay_ms"});
            if (!known) return known.error();
            auto delay = integer(o, "delay_ms", 0, max_delay_ms);
            if (!delay) return delay.error();
            end.delay_ms = delay->value_or(0);
            break;
        }
        case Kind::extend: {
            auto known = only_known(o, {"token", "lease_ms"});
            if (!known) return known.error();
            auto lease = integer(o, "lease_ms", min_lease_ms, max_lease_ms);
            if (!lease) return lease.error();
            if (!*lease) return invalid("missing_field", "lease_ms is required");
            end.lease_ms = **lease;
            break;
        }
    }
    auto token = text(o, "token", max_token, true);
    if (!token) return token.error();
    end.token = std::move(**token);
    if (with_id) {
        auto id = integer(o, "id", 1, INT64_MAX);
        if (!id) return id.error();
        if (!*id) return invalid("missing_field", "id is required");
        end.id = **id;
    }
    return end;
}

}  // namespace

core::Result<LeaseAsk> parse_lease_ask(std::string_view body, const core::ExternalTypes& external) {
    const auto parsed = parse_json_body(body.empty() ? std::string_view("{}") : body);
    if (!parsed) return parsed.error();
    const auto o = object_body(*parsed, "a lease request");
    if (!o) return o.error();
    if (auto known = only_known(**o, {"queues", "types", "max", "wait_ms", "lease_ms", "worker"}); !known)
        return known.error();
    LeaseAsk ask;
    auto queues = names(**o, "queues");
    if (!queues) return queues.error();
    ask.queues = std::move(*queues);
    auto types = names(**o, "types");
    if (!types) return types.error();
    for (const auto& type : *types)
        if (!external.admits(type)) return bad_field("types", "'" + type + "' is not an external type");
    ask.types = std::move(*types);
    auto max = integer(**o, "max", 1, max_leased);
    if (!max) return max.error();
    ask.max = static_cast<std::size_t>(max->value_or(1));
    auto wait = integer(**o, "wait_ms", 0, max_wait_ms);
    if (!wait) return wait.error();
    ask.wait_ms = wait->value_or(0);
    auto lease = integer(**o, "lease_ms", min_lease_ms, max_lease_ms);
    if (!lease) return lease.error();
    ask.lease_ms = *lease;
    auto worker = text(**o, "worker", max_name);
    if (!worker) return worker.error();
    ask.worker = std::move(*worker);
    return ask;
}

core::Result<LeaseEnd> parse_lease_end(std::string_view body, LeaseEnd::Kind kind) {
    const auto parsed = parse_json_body(body);
    if (!parsed) return parsed.error();
    const auto o = object_body(*parsed, "the body");
    if (!o) return o.error();
    return lease_end(**o, kind, false);
}

core::Result<std::vector<LeaseEnd>> parse_lease_settle(std::string_view body) {
    const auto parsed = parse_json_body(body);
    if (!parsed) return parsed.error();
    const auto o = object_body(*parsed, "the body");
    if (!o) return o.error();
    if (auto known = only_known(**o, {"ack", "fail"}); !known) return known.error();
    std::vector<LeaseEnd> ends;
    std::set<core::job_id> seen;
    for (const auto& [field, kind] : {std::pair{std::string_view("ack"), LeaseEnd::Kind::ack},
                                      std::pair{std::string_view("fail"), LeaseEnd::Kind::fail}}) {
        const auto* v = (*o)->if_contains(field);
        if (!v || v->is_null()) continue;
        if (!v->is_array()) return bad_field(field, "must be an array");
        for (std::size_t i = 0; i < v->as_array().size(); ++i) {
            const auto& entry = v->as_array()[i];
            const std::string where = std::string(field) + "[" + std::to_string(i) + "]";
            if (!entry.is_object()) return bad_field(where, "must be an object");
            auto end = lease_end(entry.as_object(), kind, true);
            if (!end) {
                auto error = end.error();
                error.message = where + ": " + error.message;
                return error;
            }
            if (!seen.insert(end->id).second)
                return bad_field(where, "names job " + std::to_string(end->id) + " a second time");
            ends.push_back(std::move(*end));
        }
    }
    if (ends.empty() || ends.size() > max_settled)
        return bad_field("ack and fail", "must hold 1 to " + std::to_string(max_settled) + " settlements together");
    return ends;
}

void append_leased_job_json(std::string& out, const core::LeasedJob& leased) {
    append_job_json(out, leased.job);
    out.pop_back();  // the job's closing brace: the lease goes inside
    std::string lease;
    JsonObjectWriter(lease)
        .string("token", leased.token)
        .integer("attempt", leased.job.attempts)
        .time_or_null("expires_at", leased.job.lease_expires_at)
        .close();
    out += R"(,"lease":)";
    out += lease;
    out += '}';
}

}  // namespace jobq::app
