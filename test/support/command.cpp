#include "command.hpp"

#include <algorithm>
#include <csignal>
#include <string_view>
#include <fcntl.h>
#include <fstream>
#include <poll.h>
#include <sstream>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

extern char** environ;

namespace jobq::test {

namespace {

using clock = std::chrono::steady_clock;

std::vector<char*> c_strings(std::vector<std::string>& words) {
    std::vector<char*> out;
    for (auto& word : words) out.push_back(word.data());
    out.push_back(nullptr);
    return out;
}

// The test's environment with `added` (NAME=VALUE) in place of any variable of that name,
// and without the client's variables the test did not set (a developer's JOBQ_URL).
std::vector<std::string> environment_with(const std::vector<std::string>& added) {
    const auto name_of = [](std::string_view variable) { return variable.substr(0, variable.find('=') + 1); };
    std::vector<std::string> all;
    for (char** entry = environ; *entry; ++entry) {
        const std::string_view variable(*entry);
        if (variable.starts_with("JOBQ_")) continue;
        if (std::none_of(added.begin(), added.end(), [&](const std::string& a) { return name_of(a) == name_of(variable); }))
            all.emplace_back(variable);
    }
    all.insert(all.end(), added.begin(), added.end());
    return all;
}

int exit_code_of(int status) { return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status); }

// Forks argv with the fds given as 0, 1, 2 (-1: /dev/null).
pid_t spawn(std::vector<std::string> argv, std::vector<std::string> environment, int in, int out, int err) {
    auto args = c_strings(argv);
    auto variables = c_strings(environment);
    const pid_t pid = ::fork();
    if (pid == 0) {
        const int null = ::open("/dev/null", O_RDWR);
        ::dup2(in >= 0 ? in : null, 0);
        ::dup2(out >= 0 ? out : null, 1);
        ::dup2(err >= 0 ? err : null, 2);
        ::execve(args[0], args.data(), variables.data());
        ::_exit(127);
    }
    return pid;
}

}  // namespace

CommandResult run_capturing(const std::vector<std::string>& argv, const std::vector<std::string>& environment,
                            const std::string& input, std::chrono::milliseconds timeout) {
    int in[2], out[2], err[2];
    if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0) return {};
    const pid_t pid = spawn(argv, environment_with(environment), in[0], out[1], err[1]);
    ::close(in[0]);
    ::close(out[1]);
    ::close(err[1]);
    if (pid < 0) {
        for (const int fd : {in[1], out[0], err[0]}) ::close(fd);
        return {};
    }
    // The input is small in tests: it fits the pipe's buffer.
    if (!input.empty() && ::write(in[1], input.data(), input.size()) < 0) {}
    ::close(in[1]);
    CommandResult result;
    const auto deadline = clock::now() + timeout;
    pollfd fds[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
    std::string* sinks[2] = {&result.out, &result.err};
    int open = 2;
    while (open > 0) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now()).count();
        if (left <= 0) break;
        if (::poll(fds, 2, static_cast<int>(left)) <= 0) continue;
        for (int i = 0; i < 2; ++i) {
            if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP))) continue;
            char chunk[4096];
            const auto n = ::read(fds[i].fd, chunk, sizeof chunk);
            if (n > 0) {
                sinks[i]->append(chunk, static_cast<std::size_t>(n));
            } else {
                ::close(fds[i].fd);
                fds[i].fd = -1;
                --open;
            }
        }
    }
    for (auto& fd : fds)
        if (fd.fd >= 0) ::close(fd.fd);
    int status = 0;
    if (open > 0) {  // out of time
        ::kill(pid, SIGKILL);
        ::waitpid(pid, &status, 0);
        return result;
    }
    ::waitpid(pid, &status, 0);
    result.exit_code = exit_code_of(status);
    return result;
}

BackgroundCommand::BackgroundCommand(const std::vector<std::string>& argv, const std::vector<std::string>& environment,
                                     std::string log_path)
    : log_path_(std::move(log_path)) {
    const int log = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    pid_ = spawn(argv, environment_with(environment), -1, log, log);
    if (log >= 0) ::close(log);
    if (pid_ < 0) exit_code_ = -1;  // fork failed: nothing to wait for
}

BackgroundCommand::~BackgroundCommand() {
    if (pid_ > 0 && !exit_code_) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, nullptr, 0);
    }
}

void BackgroundCommand::signal(int sig) {
    if (pid_ > 0 && !exit_code_) ::kill(pid_, sig);
}

bool BackgroundCommand::running() { return !wait_exit(std::chrono::milliseconds(0)); }

std::optional<int> BackgroundCommand::wait_exit(std::chrono::milliseconds timeout) {
    const auto deadline = clock::now() + timeout;
    while (!exit_code_) {
        int status = 0;
        if (::waitpid(pid_, &status, WNOHANG) == pid_) {
            exit_code_ = exit_code_of(status);
            break;
        }
        if (clock::now() >= deadline) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return exit_code_;
}

std::string BackgroundCommand::log() const {
    std::ifstream file(log_path_);
    std::stringstream text;
    text << file.rdbuf();
    return text.str();
}

}  // namespace jobq::test
