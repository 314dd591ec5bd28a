#pragma once
// The whole server: store, engine, HTTP, signals. run() returns the process exit code.

#include "app/config.hpp"

namespace jobq::app {

int run_server(const Config& config);

}  // namespace jobq::app
