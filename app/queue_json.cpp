#include "app/queue_json.hpp"

#include "app/api/toolkit.hpp"
#include "app/json_text.hpp"
#include "app/stats_views.hpp"

#include <boost/json.hpp>

#include <cmath>
#include <limits>

namespace jobq::app {

namespace json = boost::json;

namespace {

// A rate above this is no limit worth the name; below the minimum, a token would come
// less than once a day.
constexpr double max_per_second = 1'000'000;
constexpr double min_per_second = 1.0 / 86'400;
constexpr std::int64_t max_burst = 1'000'000;  // as the messages below say

core::Error invalid(std::string_view code, std::string message) {
    return core::make_error(core::errc::invalid, std::move(message), std::string(code));
}

// Built by appending: GCC 12 warns (wrongly) on `"literal" + std::string(key) + ...` here.
core::Error unknown_field(std::string_view key, std::string_view known) {
    std::string message = "unknown field '";
    message.append(key).append("'").append(known);
    return invalid("unknown_field", std::move(message));
}

std::string number_text(double x) {
    // Integral rates read as integers; others with the precision they were given.
    if (x == std::floor(x) && std::abs(x) < 1e15) return std::to_string(static_cast<std::int64_t>(x));
    return json::serialize(json::value(x));
}

std::string rate_limit_json(const std::optional<core::RateLimit>& limit) {
    if (!limit) return "null";
    std::string out;
    JsonObjectWriter(out).raw("per_second", number_text(limit->per_second)).integer("burst", limit->burst).close();
    return out;
}

std::optional<std::int64_t> as_integer(const json::value& v) {
    if (v.is_int64()) return v.as_int64();
    if (v.is_uint64() && v.as_uint64() <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
        return static_cast<std::int64_t>(v.as_uint64());
    return std::nullopt;
}

std::optional<double> as_number(const json::value& v) {
    if (v.is_double()) return v.as_double();
    if (v.is_int64()) return static_cast<double>(v.as_int64());
    if (v.is_uint64()) return static_cast<double>(v.as_uint64());
    return std::nullopt;
}

core::Result<std::optional<std::int64_t>> read_concurrency(const json::value& v) {
    if (v.is_null()) return std::optional<std::int64_t>();
    const auto n = as_integer(v);
    if (!n || *n < 1 || *n > core::max_queue_concurrency)
        return invalid("invalid_field", "concurrency must be an integer from 1 to 100000, or null for no limit");
    return std::optional(*n);
}

core::Result<std::optional<core::RateLimit>> read_rate_limit(const json::value& v) {
    if (v.is_null()) return std::optional<core::RateLimit>();
    const auto* o = v.if_object();
    if (!o) return invalid("invalid_field", "rate_limit must be {\"per_second\": x, \"burst\": n} or null");
    for (const auto& entry : *o)
        if (entry.key() != "per_second" && entry.key() != "burst")
            return unknown_field("rate_limit." + std::string(entry.key()), "");
    const auto* per_second = o->if_contains("per_second");
    const auto rate = per_second ? as_number(*per_second) : std::nullopt;
    if (!rate || !(*rate >= min_per_second && *rate <= max_per_second))
        return invalid("invalid_field", "rate_limit.per_second must be a number above 0 (at least one a day, at most "
                                        "1000000)");
    const auto* burst_value = o->if_contains("burst");
    const auto burst = burst_value ? as_integer(*burst_value) : std::nullopt;
    if (!burst || *burst < 1 || *burst > max_burst)
        return invalid("invalid_field", "rate_limit.burst must be an integer from 1 to 1000000");
    return std::optional(core::RateLimit{*rate, *burst});
}

core::Result<std::int32_t> read_weight(const json::value& v) {
    const auto n = as_integer(v);
    if (!n || *n < 1 || *n > core::max_queue_weight)
        return invalid("invalid_field", "weight must be an integer from 1 to 1000");
    return static_cast<std::int32_t>(*n);
}

// The length of the UTF-8 sequence at `text` (shortest form, no surrogate, at most
// U+10FFFF); 0 when it is not one.
std::size_t utf8_sequence(std::string_view text) {
    const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[i]); };
    const unsigned char lead = byte(0);
    std::size_t length = 0;
    std::uint32_t code = 0;
    if (lead < 0x80) return 1;
    if (lead >= 0xC2 && lead <= 0xDF) length = 2, code = lead & 0x1F;
    else if (lead >= 0xE0 && lead <= 0xEF) length = 3, code = lead & 0x0F;
    else if (lead >= 0xF0 && lead <= 0xF4) length = 4, code = lead & 0x07;
    else return 0;
    if (text.size() < length) return 0;
    for (std::size_t i = 1; i < length; ++i) {
        if ((byte(i) & 0xC0) != 0x80) return 0;
        code = (code << 6) | (byte(i) & 0x3F);
    }
    const bool overlong = (length == 3 && code < 0x800) || (length == 4 && code < 0x10000);
    const bool surrogate = code >= 0xD800 && code <= 0xDFFF;
    return overlong || surrogate || code > 0x10FFFF ? 0 : length;
}

}  // namespace

bool valid_queue_name(std::string_view name) {
    if (name.empty() || name.size() > max_queue_name_length) return false;
    for (std::size_t i = 0; i < name.size();) {
        const auto c = static_cast<unsigned char>(name[i]);
        if (c < 0x20 || c == 0x7F) return false;
        const std::size_t length = utf8_sequence(name.substr(i));
        if (length == 0) return false;
        i += length;
    }
    return true;
}

namespace {

// "paused", "concurrency", "rate_limit", "weight": the settings, wherever a queue is shown.
void write_settings(JsonObjectWriter& writer, const core::QueueSettings& s) {
    writer.raw("paused", s.paused ? "true" : "false");
    if (s.concurrency) writer.integer("concurrency", *s.concurrency);
    else writer.raw("concurrency", "null");
    writer.raw("rate_limit", rate_limit_json(s.rate_limit)).integer("weight", s.weight);
}

void integer_or_null(JsonObjectWriter& writer, std::string_view key, const std::optional<std::int64_t>& n) {
    if (n) writer.integer(key, *n);
    else writer.raw(key, "null");
}

}  // namespace

std::string queue_settings_json(const core::QueueSettings& s) {
    std::string out;
    JsonObjectWriter writer(out);
    write_settings(writer, s);
    writer.close();
    return out;
}

std::string queue_json(const QueueView& q) {
    std::string counts;
    JsonObjectWriter by_state(counts);
    for (const auto state : all_states)
        by_state.integer(core::to_string(state), q.counts[static_cast<std::size_t>(state)]);
    by_state.close();
    std::string out;
    JsonObjectWriter writer(out);
    writer.string("name", q.name).raw("counts", counts);
    write_settings(writer, q.settings);
    integer_or_null(writer, "oldest_runnable_age_ms", q.oldest_runnable_age_ms);
    integer_or_null(writer, "finished_last_minute", q.finished_last_minute);
    writer.close();
    return out;
}

core::Result<core::QueueSettingsPatch> parse_queue_patch(std::string_view body) {
    auto parsed = parse_json_body(body);
    if (!parsed) return parsed.error();
    const auto* o = parsed->if_object();
    if (!o) return invalid("invalid_json", "a queue's settings must be a JSON object");
    core::QueueSettingsPatch patch;
    for (const auto& entry : *o) {
        const auto key = entry.key();
        const auto& v = entry.value();
        if (key == "paused") {
            if (!v.is_bool()) return invalid("invalid_field", "paused must be true or false");
            patch.paused = v.as_bool();
        } else if (key == "concurrency") {
            auto n = read_concurrency(v);
            if (!n) return n.error();
            patch.concurrency = *n;
        } else if (key == "rate_limit") {
            auto limit = read_rate_limit(v);
            if (!limit) return limit.error();
            patch.rate_limit = *limit;
        } else if (key == "weight") {
            auto weight = read_weight(v);
            if (!weight) return weight.error();
            patch.weight = *weight;
        } else {
            return unknown_field(key, "; known: paused, concurrency, rate_limit, weight");
        }
    }
    return patch;
}

}  // namespace jobq::app
