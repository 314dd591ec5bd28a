#include "server_process.hpp"

#include "test_store.hpp"

#include "http_client.hpp"
#include "wait.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <stdexcept>

namespace jobq::test {

std::uint16_t free_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
        ::close(fd);
        throw std::runtime_error("cannot find a free port");
    }
    ::close(fd);
    return ntohs(addr.sin_port);
}

ServerProcess::ServerProcess(std::string db, std::vector<std::string> args, std::string log_path)
    : db_(std::move(db)), args_(std::move(args)), log_path_(std::move(log_path)) {}

ServerProcess::~ServerProcess() {
    if (pid_ > 0) kill();
}

bool ServerProcess::start(std::chrono::milliseconds timeout) {
    port_ = free_port();
    return start_on_port(timeout);
}

bool ServerProcess::restart_on_same_port(std::chrono::milliseconds timeout) {
    if (port_ == 0) port_ = free_port();
    return start_on_port(timeout);
}

bool ServerProcess::start_on_port(std::chrono::milliseconds timeout) {
    std::vector<std::string> argv = {JOBQ_BINARY, "--db", database_argument(db_), "--port", std::to_string(port_)};
    argv.insert(argv.end(), args_.begin(), args_.end());
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
        const int log_fd = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (log_fd >= 0) {
            ::dup2(log_fd, STDERR_FILENO);
            ::dup2(log_fd, STDOUT_FILENO);
        }
        std::vector<char*> raw;
        for (auto& a : argv) raw.push_back(a.data());
        raw.push_back(nullptr);
        ::execv(raw[0], raw.data());
        ::_exit(127);
    }
    HttpClient client(port_, std::chrono::milliseconds(500));
    return wait_until(
        [&] {
            int status = 0;
            if (::waitpid(pid_, &status, WNOHANG) == pid_) {
                reaped(status);
                return true;  // exited: stop waiting, report failure below
            }
            const auto reply = client.get("/healthz");
            return reply && reply->status == 200;
        },
        timeout, std::chrono::milliseconds(20)) && pid_ > 0;
}

void ServerProcess::kill() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    reaped(status);
}

void ServerProcess::reaped(int status) {
    pid_ = -1;
    exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

void ServerProcess::signal(int sig) {
    if (pid_ > 0) ::kill(pid_, sig);
}

std::optional<int> ServerProcess::wait_exit(std::chrono::milliseconds timeout) {
    if (pid_ <= 0) return std::nullopt;
    int status = 0;
    const bool exited = wait_until([&] { return ::waitpid(pid_, &status, WNOHANG) == pid_; }, timeout);
    if (!exited) return std::nullopt;
    reaped(status);
    return exit_code_;
}

std::string ServerProcess::log() const {
    std::ifstream in(log_path_);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

}  // namespace jobq::test
