// Fuzz target: an HTTP request as the API sees it, from its target to a JobSpec. The input
// is "<METHOD> <target>\n<body>": the route and query string are matched and parsed, the
// body parsed and validated as a submission (noop, email and webhook payloads), and a
// valid job is written back out as JSON, which must parse.

#include "app/api/routes.hpp"
#include "app/job_json.hpp"
#include "app/query.hpp"
#include "core/handler_registry.hpp"
#include "handlers/email.hpp"
#include "handlers/noop.hpp"
#include "handlers/webhook.hpp"

#include <boost/json/parse.hpp>

#include <boost/asio/io_context.hpp>

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string_view>

namespace {

const jobq::core::HandlerRegistry& handlers() {
    // Validation only: nothing runs, the io_context only lends the handlers an executor.
    static boost::asio::io_context io;
    static const auto registry = [] {
        auto r = std::make_unique<jobq::core::HandlerRegistry>();
        r->add(std::make_unique<jobq::handlers::NoopHandler>());
        r->add(std::make_unique<jobq::handlers::EmailHandler>(std::nullopt, io.get_executor()));
        r->add(std::make_unique<jobq::handlers::WebhookHandler>(jobq::handlers::WebhookSettings{}, io.get_executor()));
        return r;
    }();
    return *registry;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    const auto newline = input.find('\n');
    const auto request_line = input.substr(0, newline);
    const auto body = newline == std::string_view::npos ? std::string_view() : input.substr(newline + 1);

    const auto space = request_line.find(' ');
    const auto method = request_line.substr(0, space);
    const auto target = space == std::string_view::npos ? std::string_view("/") : request_line.substr(space + 1);
    const auto question = target.find('?');
    jobq::app::api_routes().match(method, target.substr(0, question));
    if (question != std::string_view::npos) jobq::app::parse_query(target.substr(question + 1));

    auto parsed = jobq::app::parse_job_spec(body, handlers(), 1'800'000'000'000);
    if (parsed) {
        const jobq::core::JobSpec* spec = &*parsed;
        // What was accepted is stored and read back: both must be valid JSON.
        boost::json::error_code ec;
        boost::json::parse(spec->payload, ec);
        if (ec) std::abort();
        jobq::core::Job job;
        job.id = 1;
        job.type = spec->type;
        job.queue = spec->queue;
        job.payload = spec->payload;
        job.idempotency_key = spec->idempotency_key;
        boost::json::parse(jobq::app::job_to_json(job), ec);
        if (ec) std::abort();
    }
    return 0;
}
