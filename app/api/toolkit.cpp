#include "app/api/toolkit.hpp"

#include <boost/json/parse.hpp>

#include <cctype>
#include <charconv>
#include <utility>

namespace jobq::app {

namespace json = boost::json;

net::HttpResponse json_response(unsigned status, std::string body) {
    net::HttpResponse r;
    r.status = status;
    r.body = std::move(body);
    return r;
}

net::HttpResponse no_content() {
    net::HttpResponse r;
    r.status = 204;
    return r;
}

core::Error no_such_job(std::string_view id) {
    return core::make_error(core::errc::not_found, "no job " + std::string(id), "not_found");
}

core::Error no_such_job(core::job_id id) { return no_such_job(std::to_string(id)); }

core::Error invalid_query(std::string message) {
    return core::make_error(core::errc::invalid, std::move(message), "invalid_query");
}

std::string_view path_of(std::string_view target) { return target.substr(0, target.find('?')); }

std::string_view query_of(std::string_view target) {
    const auto q = target.find('?');
    return q == std::string_view::npos ? std::string_view() : target.substr(q + 1);
}

std::optional<std::int64_t> parse_positive(std::string_view text) {
    std::int64_t n = 0;
    const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
    if (ec != std::errc() || ptr != text.data() + text.size() || n <= 0) return std::nullopt;
    return n;
}

core::Result<core::job_id> job_id_of(const RouteRequest& request) {
    if (const auto id = parse_positive(request.id)) return *id;
    return no_such_job(request.id);
}

core::Result<QueryParams> query_params(const net::HttpRequest& request) {
    auto params = parse_query(query_of(request.target));
    if (!params) return invalid_query("the query string is malformed");
    return std::move(*params);
}

core::Result<json::value> parse_json_body(std::string_view body, json::storage_ptr storage) {
    json::parse_options options;
    options.max_depth = 64;
    json::error_code ec;
    json::value value = json::parse(body, ec, std::move(storage), options);
    if (ec)
        return core::make_error(core::errc::invalid, "request body is not valid JSON: " + ec.message(), "invalid_json");
    return value;
}

namespace {

// "application/json", in any case, with or without parameters such as charset.
bool is_json_media_type(std::string_view content_type) {
    auto type = content_type.substr(0, content_type.find(';'));
    while (!type.empty() && type.back() == ' ') type.remove_suffix(1);
    constexpr std::string_view json_type = "application/json";
    if (type.size() != json_type.size()) return false;
    for (std::size_t i = 0; i < type.size(); ++i)
        if (std::tolower(static_cast<unsigned char>(type[i])) != json_type[i]) return false;
    return true;
}

}  // namespace

core::Result<void> accepts_submission(const ApiContext& ctx, const net::HttpRequest& request) {
    if (ctx.draining) return core::make_error(core::errc::unavailable, "the server is shutting down", "shutting_down");
    if (!is_json_media_type(request.content_type))
        return core::make_error(core::errc::unsupported_media_type, "the request body must be application/json",
                                "unsupported_media_type");
    return {};
}

WriteAdmission::WriteAdmission(WriteAdmission&& other) noexcept
    : pending_(other.pending_), jobs_(std::exchange(other.jobs_, 0)) {}

WriteAdmission::~WriteAdmission() {
    if (jobs_) pending_->fetch_sub(jobs_, std::memory_order_relaxed);
}

void wake_lease_waiters(ApiContext& ctx) {
    if (ctx.options.lease_wakeups) ctx.options.lease_wakeups->notify_all();
}

core::Result<WriteAdmission> admit_writes(ApiContext& ctx, std::size_t jobs) {
    // Reserve first, then check: two requests racing for the last places cannot both win.
    if (ctx.pending_writes.fetch_add(jobs, std::memory_order_relaxed) + jobs <= ctx.options.max_pending_writes)
        return WriteAdmission(ctx.pending_writes, jobs);
    ctx.pending_writes.fetch_sub(jobs, std::memory_order_relaxed);
    return core::make_error(core::errc::busy, "too many jobs are waiting to be stored; retry shortly",
                            "too_many_requests");
}

void log_store_failure(const StoreFailureLog& how, const char* reason) {
    if (!core::log::enabled(how.level)) return;
    if (!how.job.empty())
        core::log::write(how.level, how.message,
                         {{"route", std::string(how.route)}, {"job", std::string(how.job)}, {"error", reason}});
    else if (!how.route.empty())
        core::log::write(how.level, how.message, {{"route", std::string(how.route)}, {"error", reason}});
    else
        core::log::write(how.level, how.message, {{"error", reason}});
}

core::Error storage_unavailable() {
    return core::make_error(core::errc::unavailable, "the database cannot be written; try again later",
                            "storage_unavailable");
}

}  // namespace jobq::app
