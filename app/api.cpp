#include "app/api.hpp"

#include "app/job_json.hpp"
#include "core/log.hpp"

#include <charconv>

namespace jobq::app {

namespace asio = boost::asio;
using net::HttpResponse;

namespace {

HttpResponse json_response(unsigned status, std::string body) {
    HttpResponse r;
    r.status = status;
    r.body = std::move(body);
    return r;
}

HttpResponse method_not_allowed(std::string_view allow) {
    auto r = error_response({405, "method_not_allowed", "method not allowed; allowed: " + std::string(allow)});
    r.headers.emplace_back("Allow", std::string(allow));
    return r;
}

std::string_view path_of(std::string_view target) { return target.substr(0, target.find('?')); }

std::optional<core::job_id> parse_id(std::string_view text) {
    core::job_id id = 0;
    const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
    if (ec != std::errc() || ptr != text.data() + text.size() || id <= 0) return std::nullopt;
    return id;
}

const ApiError storage_unavailable{503, "storage_unavailable", "the database cannot be written; try again later"};

}  // namespace

Api::Api(core::JobStore& store, core::Engine& engine, const core::HandlerRegistry& handlers, core::Clock clock)
    : store_(store), engine_(engine), handlers_(handlers), clock_(std::move(clock)) {}

asio::awaitable<HttpResponse> Api::handle(net::HttpRequest request) {
    const std::string_view path = path_of(request.target);
    constexpr std::string_view jobs_prefix = "/jobs/";

    if (path == "/healthz") {
        if (request.method != "GET") co_return method_not_allowed("GET");
        co_return json_response(200, R"({"status":"ok"})");
    }
    if (path == "/jobs" || path == "/createJob") {
        if (request.method != "POST") co_return method_not_allowed("POST");
        co_return co_await create_job(request);
    }
    if (path.starts_with(jobs_prefix) && path.find('/', jobs_prefix.size()) == std::string_view::npos) {
        if (request.method != "GET") co_return method_not_allowed("GET");
        co_return co_await get_job(path.substr(jobs_prefix.size()));
    }
    co_return error_response({404, "not_found", "no route for " + std::string(path)});
}

asio::awaitable<HttpResponse> Api::create_job(const net::HttpRequest& request) {
    if (draining_) co_return error_response({503, "shutting_down", "the server is shutting down"});
    auto parsed = parse_job_spec(request.body, handlers_, clock_());
    if (auto* error = std::get_if<ApiError>(&parsed)) co_return error_response(*error);

    core::EnqueueResult result;
    try {
        result = co_await store_.enqueue(std::move(std::get<core::JobSpec>(parsed)));
    } catch (const core::StorageError& e) {
        core::log::error("enqueue failed", {{"error", e.what()}});
        co_return error_response(storage_unavailable);
    }
    if (result.created) engine_.notify_enqueued();
    co_return json_response(result.created ? 201 : 200, job_to_json(result.job));
}

asio::awaitable<HttpResponse> Api::get_job(std::string_view id_text) {
    const auto id = parse_id(id_text);
    if (!id) co_return error_response({404, "not_found", "no job " + std::string(id_text)});
    std::optional<core::Job> job;
    try {
        job = co_await store_.get(*id);
    } catch (const core::StorageError& e) {
        core::log::error("read failed", {{"error", e.what()}});
        co_return error_response(storage_unavailable);
    }
    if (!job) co_return error_response({404, "not_found", "no job " + std::to_string(*id)});
    co_return json_response(200, job_to_json(*job));
}

}  // namespace jobq::app
