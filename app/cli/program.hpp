#pragma once
// One run of the program `jobq work` hands a job to: started with posix_spawn in a process
// group of its own (a terminal's Ctrl-C reaches jobq, which decides; a kill reaches the
// program's children too), the payload written to its stdin, its stdout kept up to a limit
// and the tail of its stderr, its end awaited on a pidfd: no SIGCHLD handler, no polling.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include <sys/types.h>

namespace jobq::app::cli {

struct ProgramLimits {
    std::size_t output_bytes = 64 * 1024;  // stdout kept; more marks it truncated
    std::size_t error_tail_bytes = 2 * 1024;
};

struct ProgramEnd {
    std::optional<int> exit_status;  // when it exited
    std::optional<int> signal;       // when a signal ended it
    std::string output;              // stdout, at most output_bytes
    bool output_truncated = false;
    std::string error_tail;  // the last error_tail_bytes of stderr

    // "exit status 3" or "killed by SIGKILL".
    std::string describe() const;
};

class Program {
public:
    // Starts argv[0] (searched in PATH) with the environment `environment` (NAME=VALUE).
    // An error message when it cannot be started.
    static std::variant<std::unique_ptr<Program>, std::string> start(boost::asio::any_io_executor executor,
                                                                     const std::vector<std::string>& argv,
                                                                     const std::vector<std::string>& environment,
                                                                     std::string input, ProgramLimits limits = {});
    ~Program();  // kills and reaps it if it still runs
    Program(const Program&) = delete;
    Program& operator=(const Program&) = delete;

    // Feeds stdin, collects the output, and waits until the program has ended and its
    // output has closed (or 1 s after the end, when a process it left behind keeps the
    // pipes open). Call once.
    boost::asio::awaitable<ProgramEnd> finish();

    // SIGKILL to its process group and to itself (through its pidfd, should it have left
    // the group); nothing once it has been reaped.
    void kill() noexcept;

private:
    Program(boost::asio::any_io_executor executor, pid_t pid, int pidfd, int stdin_fd, int stdout_fd,
            int stderr_fd, std::string input, ProgramLimits limits);

    boost::asio::awaitable<void> feed_input();
    boost::asio::awaitable<void> read_output();
    boost::asio::awaitable<void> read_error();
    boost::asio::awaitable<void> wait_exit();
    boost::asio::awaitable<void> wait_exit_then_grace();
    // Reaps it if it has ended, without blocking; true once reaped.
    bool try_reap();

    pid_t pid_;
    bool reaped_ = false;
    boost::asio::posix::stream_descriptor pidfd_;
    boost::asio::posix::stream_descriptor stdin_;
    boost::asio::posix::stream_descriptor stdout_;
    boost::asio::posix::stream_descriptor stderr_;
    std::string input_;
    ProgramLimits limits_;
    ProgramEnd end_;
};

// The last `max` bytes of `text`, starting on a whole UTF-8 character, with any byte that
// is not UTF-8 replaced by '?': safe to put in a JSON string.
std::string utf8_tail(std::string_view text, std::size_t max);

// The path `name` runs from: itself when it holds a '/', else the first executable match
// in `path` (PATH's value). Empty when there is none.
std::string find_program(const std::string& name, std::string_view path);

}  // namespace jobq::app::cli
