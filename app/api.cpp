#include "app/api.hpp"

#include "app/job_json.hpp"
#include "app/json_text.hpp"
#include "app/query.hpp"
#include "app/stats_views.hpp"
#include "core/log.hpp"

#include <boost/json/value.hpp>

#include <charconv>

namespace jobq::app {

namespace asio = boost::asio;
namespace json = boost::json;
using net::HttpResponse;

namespace {

constexpr std::size_t max_batch_jobs = 1'000;
constexpr std::size_t default_page = 100;
constexpr std::size_t max_page = 1'000;

const ApiError storage_unavailable{503, "storage_unavailable", "the database cannot be written; try again later"};
const ApiError shutting_down{503, "shutting_down", "the server is shutting down"};
const ApiError not_json{415, "unsupported_media_type", "the request body must be application/json"};

HttpResponse json_response(unsigned status, std::string body) {
    HttpResponse r;
    r.status = status;
    r.body = std::move(body);
    return r;
}

HttpResponse with_header(HttpResponse r, std::string name, std::string value) {
    r.headers.emplace_back(std::move(name), std::move(value));
    return r;
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

// Compares every byte whatever the first difference, so timing does not reveal a prefix
// of the token.
bool constant_time_equal(std::string_view a, std::string_view b) {
    unsigned char difference = a.size() == b.size() ? 0 : 1;
    const std::size_t n = std::max(a.size(), b.size());
    for (std::size_t i = 0; i < n; ++i) {
        const auto x = static_cast<unsigned char>(i < a.size() ? a[i] : 0);
        const auto y = static_cast<unsigned char>(i < b.size() ? b[i] : 0);
        difference |= static_cast<unsigned char>(x ^ y);
    }
    return difference == 0;
}

std::string_view route_label(const Route* route) { return route ? route->pattern : "unmatched"; }

ApiError conflict(core::job_id id, core::JobState state, std::string_view allowed) {
    return {409, "conflict",
            "job " + std::to_string(id) + " is " + std::string(core::to_string(state)) + "; " + std::string(allowed)};
}

// Batch elements are reported by index: "jobs[3]: type is required".
std::variant<std::vector<core::JobSpec>, ApiError> parse_batch(std::string_view body,
                                                                const core::HandlerRegistry& handlers,
                                                                core::millis now) {
    auto parsed = parse_json_body(body);
    if (auto* error = std::get_if<ApiError>(&parsed)) return *error;
    const auto* object = std::get<json::value>(parsed).if_object();
    if (!object) return ApiError{400, "invalid_json", "a batch must be a JSON object {\"jobs\": [...]}"};
    for (const auto& entry : *object)
        if (entry.key() != "jobs")
            return ApiError{400, "unknown_field", "unknown field '" + std::string(entry.key()) + "'"};
    const auto* jobs = object->if_contains("jobs");
    if (!jobs || !jobs->is_array()) return ApiError{400, "missing_field", "jobs must be an array of jobs"};
    const auto& array = jobs->get_array();
    if (array.empty() || array.size() > max_batch_jobs)
        return ApiError{400, "invalid_field", "jobs must hold 1 to " + std::to_string(max_batch_jobs) + " jobs"};
    std::vector<core::JobSpec> specs;
    specs.reserve(array.size());
    for (std::size_t i = 0; i < array.size(); ++i) {
        auto spec = job_spec_from_json(array[i], handlers, now);
        if (auto* error = std::get_if<ApiError>(&spec))
            return ApiError{error->status, error->code, "jobs[" + std::to_string(i) + "]: " + error->message};
        specs.push_back(std::move(std::get<core::JobSpec>(spec)));
    }
    return specs;
}

std::variant<core::JobFilter, ApiError> parse_filter(const std::map<std::string, std::string, std::less<>>& params) {
    core::JobFilter filter;
    for (const auto& [name, value] : params) {
        if (name == "state") {
            filter.state = core::parse_job_state(value);
            if (!filter.state)
                return ApiError{400, "invalid_query", "state must be queued, processing, done, failed or cancelled"};
        } else if (name == "type") {
            filter.type = value;
        } else if (name == "queue") {
            filter.queue = value;
        } else if (name != "limit" && name != "cursor") {
            return ApiError{400, "invalid_query", "unknown query parameter '" + name + "'"};
        }
    }
    return filter;
}

}  // namespace

// Places for jobs waiting on a commit, held for as long as the object lives.
class Api::WriteAdmission {
public:
    WriteAdmission(std::atomic<std::size_t>& pending, std::size_t jobs, std::size_t limit)
        : pending_(pending), jobs_(jobs) {
        admitted_ = pending_.fetch_add(jobs_, std::memory_order_relaxed) + jobs_ <= limit;
        if (!admitted_) pending_.fetch_sub(jobs_, std::memory_order_relaxed);
    }
    ~WriteAdmission() {
        if (admitted_) pending_.fetch_sub(jobs_, std::memory_order_relaxed);
    }
    WriteAdmission(const WriteAdmission&) = delete;
    WriteAdmission& operator=(const WriteAdmission&) = delete;

    bool admitted() const { return admitted_; }

    static HttpResponse refusal() {
        const ApiError busy{429, "too_many_requests", "too many jobs are waiting to be stored; retry shortly"};
        return with_header(error_response(busy), "Retry-After", "1");
    }

private:
    std::atomic<std::size_t>& pending_;
    std::size_t jobs_;
    bool admitted_ = false;
};

Api::Api(core::JobStore& store, core::JobAdmin& admin, core::Engine& engine, const core::HandlerRegistry& handlers,
         core::Metrics* metrics, ApiOptions options, core::Clock clock)
    : store_(store),
      admin_(admin),
      engine_(engine),
      handlers_(handlers),
      metrics_(metrics),
      options_(std::move(options)),
      clock_(std::move(clock)) {}

asio::awaitable<HttpResponse> Api::handle(net::HttpRequest request) {
    const auto started = std::chrono::steady_clock::now();
    const RouteMatch match = match_route(request.method, path_of(request.target));
    Answer answer;
    if (match.route && !match.route->open && !authorized(request)) {
        const ApiError refused{401, "unauthorized", "a valid Authorization: Bearer token is required"};
        answer.response = with_header(error_response(refused), "WWW-Authenticate", "Bearer");
    } else if (match.route) {
        answer = co_await dispatch(match, request);
    } else if (!match.allowed.empty()) {
        answer.response = with_header(
            error_response({405, "method_not_allowed", "method not allowed; allowed: " + match.allowed}), "Allow",
            match.allowed);
    } else {
        answer.response = error_response({404, "not_found", "no route for " + std::string(path_of(request.target))});
    }
    record(request, match.route, answer, std::chrono::steady_clock::now() - started);
    co_return std::move(answer.response);
}

bool Api::authorized(const net::HttpRequest& request) const {
    if (options_.api_token.empty()) return true;
    constexpr std::string_view scheme = "Bearer ";
    const std::string_view header = request.authorization;
    if (!header.starts_with(scheme)) return false;
    return constant_time_equal(header.substr(scheme.size()), options_.api_token);
}

asio::awaitable<Api::Answer> Api::dispatch(const RouteMatch& match, const net::HttpRequest& request) {
    switch (match.route->id) {
        case RouteId::healthz: co_return Answer{json_response(200, R"({"status":"ok"})")};
        case RouteId::readyz: co_return co_await readyz();
        case RouteId::metrics: co_return co_await metrics();
        case RouteId::stats: co_return co_await stats();
        case RouteId::create_job:
        case RouteId::create_job_alias: co_return co_await create_job(request);
        case RouteId::create_batch: co_return co_await create_batch(request);
        case RouteId::list_jobs: co_return co_await list_jobs(query_of(request.target));
        case RouteId::get_job:
        case RouteId::retry_job:
        case RouteId::cancel_job:
        case RouteId::delete_job: break;
    }
    const auto id = parse_positive(match.id);
    if (!id) co_return Answer{error_response({404, "not_found", "no job " + std::string(match.id)})};
    if (match.route->id == RouteId::get_job) co_return co_await get_job(*id);
    co_return co_await change_job(match.route->id, *id);
}

asio::awaitable<Api::Answer> Api::create_job(const net::HttpRequest& request) {
    if (draining_) co_return Answer{error_response(shutting_down)};
    if (!is_json_media_type(request.content_type)) co_return Answer{error_response(not_json)};
    auto parsed = parse_job_spec(request.body, handlers_, clock_());
    if (auto* error = std::get_if<ApiError>(&parsed)) co_return Answer{error_response(*error)};

    const WriteAdmission admission(pending_writes_, 1, options_.max_pending_writes);
    if (!admission.admitted()) co_return Answer{WriteAdmission::refusal()};
    core::EnqueueResult result;
    try {
        result = co_await store_.enqueue(std::move(std::get<core::JobSpec>(parsed)));
    } catch (const core::StorageError& e) {
        core::log::error("enqueue failed", {{"error", e.what()}});
        co_return Answer{error_response(storage_unavailable)};
    }
    if (result.created) {
        engine_.notify_enqueued();
        if (metrics_) metrics_->jobs_enqueued.add();
    }
    co_return Answer{json_response(result.created ? 201 : 200, job_to_json(result.job)), result.job.id};
}

asio::awaitable<Api::Answer> Api::create_batch(const net::HttpRequest& request) {
    if (draining_) co_return Answer{error_response(shutting_down)};
    if (!is_json_media_type(request.content_type)) co_return Answer{error_response(not_json)};
    auto parsed = parse_batch(request.body, handlers_, clock_());
    if (auto* error = std::get_if<ApiError>(&parsed)) co_return Answer{error_response(*error)};
    auto& specs = std::get<std::vector<core::JobSpec>>(parsed);

    const WriteAdmission admission(pending_writes_, specs.size(), options_.max_pending_writes);
    if (!admission.admitted()) co_return Answer{WriteAdmission::refusal()};
    std::vector<core::EnqueueResult> results;
    try {
        results = co_await admin_.enqueue_batch(std::move(specs));
    } catch (const core::StorageError& e) {
        core::log::error("batch enqueue failed", {{"error", e.what()}});
        co_return Answer{error_response(storage_unavailable)};
    }
    std::string body = R"({"ids":[)";
    std::uint64_t created = 0;
    for (std::size_t i = 0; i < results.size(); ++i) {
        if (i) body += ',';
        body += std::to_string(results[i].job.id);
        created += results[i].created ? 1 : 0;
    }
    body += "]}";
    if (created > 0) {
        engine_.notify_enqueued();
        if (metrics_) metrics_->jobs_enqueued.add(created);
    }
    co_return Answer{json_response(201, std::move(body))};
}

asio::awaitable<Api::Answer> Api::list_jobs(std::string_view query) {
    const auto params = parse_query(query);
    if (!params) co_return Answer{error_response({400, "invalid_query", "the query string is malformed"})};
    auto filter = parse_filter(*params);
    if (auto* error = std::get_if<ApiError>(&filter)) co_return Answer{error_response(*error)};

    std::size_t limit = default_page;
    if (const auto it = params->find("limit"); it != params->end()) {
        const auto n = parse_positive(it->second);
        if (!n || *n > static_cast<std::int64_t>(max_page))
            co_return Answer{
                error_response({400, "invalid_query", "limit must be from 1 to " + std::to_string(max_page)})};
        limit = static_cast<std::size_t>(*n);
    }
    std::optional<core::job_id> after;
    if (const auto it = params->find("cursor"); it != params->end()) {
        after = parse_positive(it->second);
        if (!after) {
            const ApiError bad_cursor{400, "invalid_query", "cursor must be a next_cursor from a previous page"};
            co_return Answer{error_response(bad_cursor)};
        }
    }

    core::JobPage page;
    try {
        page = co_await admin_.list(std::move(std::get<core::JobFilter>(filter)), after, limit);
    } catch (const core::StorageError& e) {
        core::log::error("list failed", {{"error", e.what()}});
        co_return Answer{error_response(storage_unavailable)};
    }
    std::string body = R"({"jobs":[)";
    for (std::size_t i = 0; i < page.jobs.size(); ++i) {
        if (i) body += ',';
        append_job_json(body, page.jobs[i]);
    }
    body += R"(],"next_cursor":)";
    if (page.next_cursor) append_json_string(body, std::to_string(*page.next_cursor));
    else body += "null";
    body += '}';
    co_return Answer{json_response(200, std::move(body))};
}

asio::awaitable<Api::Answer> Api::get_job(core::job_id id) {
    std::optional<core::Job> job;
    try {
        job = co_await store_.get(id);
    } catch (const core::StorageError& e) {
        core::log::error("read failed", {{"error", e.what()}});
        co_return Answer{error_response(storage_unavailable)};
    }
    if (!job) co_return Answer{error_response({404, "not_found", "no job " + std::to_string(id)})};
    co_return Answer{json_response(200, job_to_json(*job)), id};
}

asio::awaitable<Api::Answer> Api::change_job(RouteId route, core::job_id id) {
    core::JobChange change;
    std::string_view allowed;
    try {
        if (route == RouteId::retry_job) {
            allowed = "only failed or cancelled jobs can be retried";
            change = co_await admin_.retry(id, clock_());
        } else if (route == RouteId::cancel_job) {
            allowed = "only queued jobs can be cancelled";
            change = co_await admin_.cancel(id, clock_());
        } else {
            allowed = "a job cannot be deleted while it runs";
            change = co_await admin_.remove(id);
        }
    } catch (const core::StorageError& e) {
        core::log::error("job change failed", {{"job", std::to_string(id)}, {"error", e.what()}});
        co_return Answer{error_response(storage_unavailable), id};
    }
    switch (change.outcome) {
        case core::JobChange::Outcome::not_found:
            co_return Answer{error_response({404, "not_found", "no job " + std::to_string(id)}), id};
        case core::JobChange::Outcome::conflict:
            co_return Answer{error_response(conflict(id, change.job->state, allowed)), id};
        case core::JobChange::Outcome::changed: break;
    }
    if (route == RouteId::delete_job) {
        HttpResponse r;
        r.status = 204;
        co_return Answer{std::move(r), id};
    }
    if (route == RouteId::retry_job) engine_.notify_enqueued();
    co_return Answer{json_response(200, job_to_json(*change.job)), id};
}

asio::awaitable<Api::Answer> Api::stats() {
    std::vector<core::JobCount> counts;
    std::optional<core::millis> oldest;
    const core::millis now = clock_();
    try {
        counts = co_await admin_.counts();
        oldest = co_await admin_.oldest_runnable(now);
    } catch (const core::StorageError& e) {
        core::log::error("stats failed", {{"error", e.what()}});
        co_return Answer{error_response(storage_unavailable)};
    }
    const auto oldest_age = oldest ? std::optional(now - *oldest) : std::nullopt;
    co_return Answer{json_response(200, stats_json(counts, oldest_age, metrics_))};
}

asio::awaitable<Api::Answer> Api::metrics() {
    std::vector<core::JobCount> counts;
    try {
        counts = co_await admin_.counts();
    } catch (const core::StorageError& e) {
        core::log::error("metrics failed", {{"error", e.what()}});
        co_return Answer{error_response(storage_unavailable)};
    }
    auto response = json_response(200, prometheus_text(counts, metrics_));
    response.content_type = "text/plain; version=0.0.4; charset=utf-8";
    co_return Answer{std::move(response)};
}

asio::awaitable<Api::Answer> Api::readyz() {
    if (draining_) co_return Answer{error_response({503, "not_ready", "the server is shutting down"})};
    if (const auto ended = engine_.loops_not_running(); !ended.empty()) {
        std::string names;
        for (const auto& name : ended) names += (names.empty() ? "" : ", ") + name;
        co_return Answer{error_response({503, "not_ready", "engine loops not running: " + names})};
    }
    try {
        co_await admin_.writable();
    } catch (const core::StorageError& e) {
        core::log::warn("readiness probe cannot write", {{"error", e.what()}});
        co_return Answer{error_response({503, "not_ready", "the database cannot be written"})};
    }
    co_return Answer{json_response(200, R"({"status":"ready"})")};
}

void Api::record(const net::HttpRequest& request, const Route* route, const Answer& answer,
                 std::chrono::steady_clock::duration took) {
    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(took).count();
    if (metrics_) {
        metrics_->http_requests.at({std::string(route_label(route)), std::to_string(answer.response.status)}).add();
        metrics_->http_request_duration.observe(static_cast<std::uint64_t>(us));
    }
    if (!options_.access_log || !core::log::enabled(core::log::Level::info)) return;
    char duration[32];
    const auto end = std::to_chars(duration, duration + sizeof duration, static_cast<double>(us) / 1000.0,
                                   std::chars_format::fixed, 3).ptr;
    // Never the payload, the query string or the Authorization header.
    if (answer.job)
        core::log::write_batched(core::log::Level::info, "request",
                         {{"method", request.method},
                          {"route", std::string(route_label(route))},
                          {"status", std::to_string(answer.response.status)},
                          {"duration_ms", std::string(duration, end)},
                          {"job", std::to_string(answer.job)}});
    else
        core::log::write_batched(core::log::Level::info, "request",
                         {{"method", request.method},
                          {"route", std::string(route_label(route))},
                          {"status", std::to_string(answer.response.status)},
                          {"duration_ms", std::string(duration, end)}});
}

}  // namespace jobq::app
