#include "app/cli/cli.hpp"
#include "app/config.hpp"
#include "app/server.hpp"

#include <cstdio>
#include <iostream>

namespace {

int serve(const std::vector<std::string>& args) {
    using namespace jobq::app;
    const auto loaded = load_config(args, process_environment(), read_dotenv(".env"));
    if (const auto* help = std::get_if<ShowHelp>(&loaded)) {
        std::cout << help->text << "\n" << cli::client_usage();
        return 0;
    }
    if (const auto* error = std::get_if<ConfigError>(&loaded)) {
        std::cerr << "jobq: " << error->message << "\n";
        return 2;
    }
    return run_server(std::get<Config>(loaded));
}

}  // namespace

// `jobq` and `jobq serve` run the server with its flags; `jobq COMMAND` is a client.
int main(int argc, char** argv) {
    using namespace jobq::app;
    std::vector<std::string> args(argv + 1, argv + argc);
    if (!args.empty() && args.front() == "serve") args.erase(args.begin());
    else if (!args.empty() && cli::is_client_command(args.front())) return cli::run_client_command(args, process_environment());
    else if (!args.empty() && !args.front().starts_with("-")) {
        std::cerr << "jobq: unknown command '" << args.front() << "'\n\n" << cli::client_usage();
        return 2;
    }
    return serve(args);
}
