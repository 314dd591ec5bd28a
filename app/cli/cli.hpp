#pragma once
// `jobq COMMAND ...`: the client commands, which talk to a running jobq over its HTTP API
// (`jobq` alone, or `jobq serve`, is the server). Every command exits 0 when done, 1 when
// the server refused (its error on stderr), 2 on a usage error, 3 when the server could
// not be reached.

#include "app/config.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace jobq::app::cli {

enum ExitStatus : int { done = 0, refused = 1, usage = 2, unreachable = 3 };

// True when `word` (the first argument) names a client command.
bool is_client_command(std::string_view word);

// Runs the client command args[0] with the rest of `args`; returns the exit status.
int run_client_command(const std::vector<std::string>& args, const Environment& env);

// The commands in brief, for `jobq help` and the server's --help.
std::string client_usage();

}  // namespace jobq::app::cli
