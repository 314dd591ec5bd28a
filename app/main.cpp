#include "app/config.hpp"
#include "app/server.hpp"

#include <cstdio>
#include <iostream>

int main(int argc, char** argv) {
    using namespace jobq::app;
    const std::vector<std::string> args(argv + 1, argv + argc);
    const auto loaded = load_config(args, process_environment(), read_dotenv(".env"));
    if (const auto* help = std::get_if<ShowHelp>(&loaded)) {
        std::cout << help->text;
        return 0;
    }
    if (const auto* error = std::get_if<ConfigError>(&loaded)) {
        std::cerr << "jobq: " << error->message << "\n";
        return 2;
    }
    return run_server(std::get<Config>(loaded));
}
