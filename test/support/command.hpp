#pragma once
// Running build/jobq's client commands in tests: to completion with their output captured,
// or in the background (jobq work) to signal and wait for.

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include <sys/types.h>

namespace jobq::test {

struct CommandResult {
    int exit_code = -1;  // 128+n for signal n; -1 when it did not end in time (it was killed)
    std::string out;
    std::string err;
};

// Runs argv (argv[0] a path) with `environment` (NAME=VALUE) added to the test's own,
// `input` on stdin; killed after `timeout`.
CommandResult run_capturing(const std::vector<std::string>& argv, const std::vector<std::string>& environment = {},
                            const std::string& input = {},
                            std::chrono::milliseconds timeout = std::chrono::seconds(30));

// A command left running, its stdout and stderr in `log_path`. The destructor SIGKILLs it
// if it still runs.
class BackgroundCommand {
public:
    BackgroundCommand(const std::vector<std::string>& argv, const std::vector<std::string>& environment,
                      std::string log_path);
    ~BackgroundCommand();
    BackgroundCommand(const BackgroundCommand&) = delete;
    BackgroundCommand& operator=(const BackgroundCommand&) = delete;

    void signal(int sig);
    // The exit code (128+n for a signal), or nullopt when it still runs at the deadline.
    std::optional<int> wait_exit(std::chrono::milliseconds timeout);
    bool running();
    std::string log() const;

private:
    pid_t pid_ = -1;
    std::optional<int> exit_code_;
    std::string log_path_;
};

}  // namespace jobq::test
