#pragma once
// `jobq work --type T -- PROGRAM [ARGS]`: turns any program into a jobq worker. Each of
// --concurrency slots leases one job at a time with a long poll, runs PROGRAM with the
// payload on stdin, extends the lease every third of it while PROGRAM runs, and settles by
// PROGRAM's exit status: 0 ack (stdout, when it is JSON of at most 64 KiB, as the result),
// 65 (EX_DATAERR) a permanent failure, anything else (a signal included) a retryable one
// with the last 2 KiB of stderr as the error.
//
// SIGTERM or SIGINT: nothing more is leased; running programs may finish until
// --shutdown-timeout-ms, then they are killed and their jobs released (queued again, the
// attempt not counted); exit 0. A second signal skips the wait.

#include "app/cli/api_client.hpp"
#include "app/cli/arguments.hpp"

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

namespace jobq::app::cli {

struct WorkOptions {
    std::vector<std::string> types;   // --type, repeatable or comma-separated
    std::vector<std::string> queues;  // --queue, likewise; empty: every queue
    std::int64_t concurrency = 1;
    std::int64_t lease_ms = 60'000;
    std::int64_t shutdown_timeout_ms = 30'000;
    std::vector<std::string> program;  // argv, program[0] as found in PATH
};

// The options of `work` checked; a message saying what is wrong otherwise.
std::variant<WorkOptions, std::string> work_options(const Arguments& arguments);

// Works until a signal, or until the server refuses the lease request (exit 1) or cannot
// be reached at the first one (exit 3). Once it has reached the server, a server that goes
// away (a restart) is waited for, with a growing pause between tries.
int run_worker(Endpoint endpoint, WorkOptions options);

}  // namespace jobq::app::cli
