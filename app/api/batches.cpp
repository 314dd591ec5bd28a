// Batches: POST /jobs/batch stores up to max_batch_jobs jobs in one transaction, all or
// none, and answers their ids in the order given.

#include "app/api/routes.hpp"
#include "app/api/toolkit.hpp"
#include "app/job_json.hpp"

namespace jobq::app {

namespace asio = boost::asio;
namespace json = boost::json;

namespace {

constexpr std::size_t max_batch_jobs = 1'000;

core::Error invalid(std::string message, std::string name) {
    return core::make_error(core::errc::invalid, std::move(message), std::move(name));
}

// {"jobs": [job, ...]} and nothing else.
core::Result<const json::array*> jobs_array(const json::value& document) {
    const auto* object = document.if_object();
    if (!object) return invalid("a batch must be a JSON object {\"jobs\": [...]}", "invalid_json");
    for (const auto& entry : *object)
        if (entry.key() != "jobs") return invalid("unknown field '" + std::string(entry.key()) + "'", "unknown_field");
    const auto* jobs = object->if_contains("jobs");
    if (!jobs || !jobs->is_array()) return invalid("jobs must be an array of jobs", "missing_field");
    const auto& array = jobs->get_array();
    if (array.empty() || array.size() > max_batch_jobs)
        return invalid("jobs must hold 1 to " + std::to_string(max_batch_jobs) + " jobs", "invalid_field");
    return &array;
}

// Each job is checked as POST /jobs checks one; an error names its element: "jobs[3]: ...".
core::Result<std::vector<core::JobSpec>> parse_batch(std::string_view body, const core::HandlerRegistry& handlers,
                                                     const core::ExternalTypes& external, core::millis now) {
    const auto document = parse_json_body(body);
    if (!document) return document.error();
    const auto array = jobs_array(*document);
    if (!array) return array.error();
    std::vector<core::JobSpec> specs;
    specs.reserve((*array)->size());
    for (std::size_t i = 0; i < (*array)->size(); ++i) {
        auto spec = job_spec_from_json((**array)[i], handlers, now, external);
        if (!spec) {
            auto error = spec.error();
            error.message = "jobs[" + std::to_string(i) + "]: " + error.message;
            return error;
        }
        specs.push_back(std::move(*spec));
    }
    return specs;
}

// {"ids":[1,2,3]}, in the order of the batch.
std::string ids_json(const std::vector<core::EnqueueResult>& results) {
    std::string body = R"({"ids":[)";
    for (std::size_t i = 0; i < results.size(); ++i) {
        if (i) body += ',';
        body += std::to_string(results[i].job.id);
    }
    body += "]}";
    return body;
}

asio::awaitable<Answer> create_batch(ApiContext& ctx, RouteRequest request) {
    if (auto accepted = accepts_submission(ctx, request.http); !accepted) co_return accepted.error();
    auto specs = parse_batch(request.http.body, ctx.handlers, ctx.options.external_types, ctx.clock());
    if (!specs) co_return specs.error();
    const auto admission = admit_writes(ctx, specs->size());
    if (!admission) co_return admission.error();

    const auto results = co_await ctx.stores.jobs.enqueue_batch(std::move(*specs));
    std::uint64_t created = 0;
    bool external = false;
    for (const auto& r : results) {
        created += r.created ? 1 : 0;
        external |= r.created && r.job.external;
    }
    if (external) wake_lease_waiters(ctx);
    if (created > 0) {
        ctx.notifier.notify_enqueued();
        if (ctx.metrics) ctx.metrics->jobs_enqueued.add(created);
    }
    co_return json_response(201, ids_json(results));
}

}  // namespace

void add_batch_routes(RouteTable& table) {
    table.add({.method = "POST", .pattern = "/jobs/batch", .handler = create_batch});
}

}  // namespace jobq::app
