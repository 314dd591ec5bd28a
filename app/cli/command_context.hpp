#pragma once
// What every client command starts from: where the server is and the token to show it.

#include "app/cli/api_client.hpp"
#include "app/cli/arguments.hpp"
#include "app/config.hpp"

#include <iosfwd>
#include <string>
#include <variant>

namespace jobq::app::cli {

inline constexpr std::string_view default_url = "http://127.0.0.1:8080";

// --url, else JOBQ_URL, else the default; the token from `token_variable` (JOBQ_API_TOKEN,
// or JOBQ_WORKER_TOKEN for `work`, which falls back to JOBQ_API_TOKEN).
std::variant<Endpoint, std::string> endpoint_for(const Arguments& arguments, const Environment& env,
                                                 bool worker = false);

// Prints why a call did not succeed and returns the exit status that says so: 3 when the
// server could not be reached, 1 when it answered with an error.
int report_failure(const CallResult& result, std::string_view what);

}  // namespace jobq::app::cli
