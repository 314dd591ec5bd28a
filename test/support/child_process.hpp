#pragma once
// A helper process for tests (a real SMTP server, say): its stdin and stdout are pipes.
// Closing stdin asks it to stop; the destructor does that, waits briefly, then SIGKILLs.

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include <sys/types.h>

namespace jobq::test {

class ChildProcess {
public:
    explicit ChildProcess(std::vector<std::string> argv);
    ~ChildProcess();
    ChildProcess(const ChildProcess&) = delete;
    ChildProcess& operator=(const ChildProcess&) = delete;

    // The next line the process writes to stdout, without its newline; nullopt on timeout
    // or when the process ends first.
    std::optional<std::string> read_line(std::chrono::milliseconds timeout);

private:
    pid_t pid_ = -1;
    int stdin_ = -1;
    int stdout_ = -1;
    std::string buffer_;
};

// Runs a command to completion; true when it exits 0.
bool run_command(const std::vector<std::string>& argv);

}  // namespace jobq::test
