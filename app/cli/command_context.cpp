#include "app/cli/command_context.hpp"

#include "app/cli/cli.hpp"

#include <iostream>

namespace jobq::app::cli {

std::variant<Endpoint, std::string> endpoint_for(const Arguments& arguments, const Environment& env, bool worker) {
    std::string url(default_url);
    if (auto given = arguments.option("url")) url = std::move(*given);
    else if (auto from_env = env("JOBQ_URL"); from_env && !from_env->empty()) url = std::move(*from_env);
    auto endpoint = parse_endpoint(url);
    if (auto* found = std::get_if<Endpoint>(&endpoint)) {
        std::optional<std::string> token;
        if (worker) token = env("JOBQ_WORKER_TOKEN");
        if (!token || token->empty()) token = env("JOBQ_API_TOKEN");
        found->token = token.value_or("");
    }
    return endpoint;
}

int report_failure(const CallResult& result, std::string_view what) {
    if (!result) {
        std::cerr << "jobq: " << what << ": the server could not be reached: " << result.error().message << "\n";
        return unreachable;
    }
    std::cerr << "jobq: " << what << ": " << result->error_text() << "\n";
    return refused;
}

}  // namespace jobq::app::cli
