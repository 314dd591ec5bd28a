#pragma once
// The real build/jobq, started on a free loopback port for integration and fault tests.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <sys/types.h>

namespace jobq::test {

// A port nothing listens on right now.
std::uint16_t free_port();

class ServerProcess {
public:
    // `db` is the database file; `args` are extra flags. stderr goes to `log_path`.
    ServerProcess(std::string db, std::vector<std::string> args, std::string log_path);
    ~ServerProcess();  // SIGKILLs a server still running
    ServerProcess(const ServerProcess&) = delete;
    ServerProcess& operator=(const ServerProcess&) = delete;

    // Starts the process and waits until /healthz answers. False on timeout or exit.
    bool start(std::chrono::milliseconds timeout = std::chrono::seconds(15));
    // Starts it again on the port it had (clients that know the port find it there).
    bool restart_on_same_port(std::chrono::milliseconds timeout = std::chrono::seconds(15));

    void kill();                      // SIGKILL, then reap
    void signal(int sig);             // send and return
    // Waits for the exit; the exit code (128+n for a signal), or nullopt on timeout.
    std::optional<int> wait_exit(std::chrono::milliseconds timeout);

    bool running() const { return pid_ > 0; }
    // How the process ended, once it has been reaped (128+n for signal n).
    std::optional<int> exit_code() const { return exit_code_; }
    std::uint16_t port() const { return port_; }
    std::string log() const;

private:
    std::string db_;
    std::vector<std::string> args_;
    std::string log_path_;
    std::uint16_t port_ = 0;
    pid_t pid_ = -1;
    std::optional<int> exit_code_;

    void reaped(int status);
    bool start_on_port(std::chrono::milliseconds timeout);
};

}  // namespace jobq::test
