#include "app/cli/program.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <array>
#include <cerrno>
#include <csignal>
#include <cstring>

#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

namespace jobq::app::cli {

namespace asio = boost::asio;
using namespace asio::experimental::awaitable_operators;

namespace {

constexpr auto use_nothrow = asio::as_tuple(asio::use_awaitable);
// How long the pipes may stay open after the program ended (a process it started and left
// behind can hold them) before they are closed and what was read is taken.
constexpr std::chrono::seconds output_grace{1};

std::string errno_text(int error) { return std::strerror(error); }

// Closes the descriptors it holds unless released.
class Fds {
public:
    ~Fds() {
        for (int& fd : fds_)
            if (fd >= 0) ::close(fd);
    }
    int& operator[](std::size_t i) { return fds_[i]; }
    int release(std::size_t i) { return std::exchange(fds_[i], -1); }

private:
    std::array<int, 7> fds_{-1, -1, -1, -1, -1, -1, -1};
};
// Indexes into Fds: the pipes' ends, and the pidfd.
enum : std::size_t { stdin_read, stdin_write, stdout_read, stdout_write, stderr_read, stderr_write, pidfd };

struct SpawnSetup {
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attributes;
    SpawnSetup() {
        posix_spawn_file_actions_init(&actions);
        posix_spawnattr_init(&attributes);
    }
    ~SpawnSetup() {
        posix_spawn_file_actions_destroy(&actions);
        posix_spawnattr_destroy(&attributes);
    }
    SpawnSetup(const SpawnSetup&) = delete;
    SpawnSetup& operator=(const SpawnSetup&) = delete;
};

// The program gets the pipes as 0, 1, 2 and no other descriptor, a process group of its own, no blocked signals,
// and every signal's default action (jobq ignores SIGPIPE; the program should not).
int prepare(SpawnSetup& setup, Fds& fds) {
    if (int e = posix_spawn_file_actions_adddup2(&setup.actions, fds[stdin_read], STDIN_FILENO)) return e;
    if (int e = posix_spawn_file_actions_adddup2(&setup.actions, fds[stdout_write], STDOUT_FILENO)) return e;
    if (int e = posix_spawn_file_actions_adddup2(&setup.actions, fds[stderr_write], STDERR_FILENO)) return e;
    // Nothing else of jobq's: Asio's sockets are not close-on-exec, and a program holding
    // a long poll's connection would keep the server from seeing it closed.
    if (int e = posix_spawn_file_actions_addclosefrom_np(&setup.actions, STDERR_FILENO + 1)) return e;
    sigset_t none;
    sigset_t all;
    sigemptyset(&none);
    sigfillset(&all);
    if (int e = posix_spawnattr_setsigmask(&setup.attributes, &none)) return e;
    if (int e = posix_spawnattr_setsigdefault(&setup.attributes, &all)) return e;
    if (int e = posix_spawnattr_setpgroup(&setup.attributes, 0)) return e;
    return posix_spawnattr_setflags(&setup.attributes,
                                    POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
}

std::vector<char*> c_strings(const std::vector<std::string>& words) {
    std::vector<char*> pointers;
    pointers.reserve(words.size() + 1);
    for (const auto& word : words) pointers.push_back(const_cast<char*>(word.c_str()));
    pointers.push_back(nullptr);
    return pointers;
}

// The length of the UTF-8 sequence starting at text[i], or 0 when it is not one.
std::size_t utf8_sequence(std::string_view text, std::size_t i) {
    const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
    const unsigned char lead = byte(i);
    if (lead < 0x80) return 1;
    std::size_t length = 0;
    std::uint32_t code = 0;
    if ((lead & 0xE0) == 0xC0) length = 2, code = lead & 0x1F;
    else if ((lead & 0xF0) == 0xE0) length = 3, code = lead & 0x0F;
    else if ((lead & 0xF8) == 0xF0) length = 4, code = lead & 0x07;
    else return 0;
    if (i + length > text.size()) return 0;
    for (std::size_t k = 1; k < length; ++k) {
        if ((byte(i + k) & 0xC0) != 0x80) return 0;
        code = (code << 6) | (byte(i + k) & 0x3F);
    }
    constexpr std::array<std::uint32_t, 5> smallest = {0, 0, 0x80, 0x800, 0x10000};
    if (code < smallest[length] || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) return 0;
    return length;
}

}  // namespace

std::string ProgramEnd::describe() const {
    if (exit_status) return "exit status " + std::to_string(*exit_status);
    if (signal) {
        const char* name = sigabbrev_np(*signal);
        return "killed by " + (name ? "SIG" + std::string(name) : "signal " + std::to_string(*signal));
    }
    return "ended";
}

std::variant<std::unique_ptr<Program>, std::string> Program::start(asio::any_io_executor executor,
                                                                   const std::vector<std::string>& argv,
                                                                   const std::vector<std::string>& environment,
                                                                   std::string input, ProgramLimits limits) {
    Fds fds;
    for (const std::size_t read_end : {stdin_read, stdout_read, stderr_read}) {
        int ends[2];
        if (::pipe2(ends, O_CLOEXEC) != 0) return "cannot make a pipe: " + errno_text(errno);
        fds[read_end] = ends[0];
        fds[read_end + 1] = ends[1];
    }
    SpawnSetup setup;
    if (int e = prepare(setup, fds)) return "cannot prepare to start the program: " + errno_text(e);
    auto arguments = c_strings(argv);
    auto variables = c_strings(environment);
    pid_t pid = -1;
    if (int e = ::posix_spawnp(&pid, argv.at(0).c_str(), &setup.actions, &setup.attributes, arguments.data(),
                               variables.data()))
        return "cannot start " + argv[0] + ": " + errno_text(e);
    fds[pidfd] = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
    if (fds[pidfd] < 0) {
        const int e = errno;
        ::kill(-pid, SIGKILL);
        while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {}
        return "cannot watch the program (pidfd_open): " + errno_text(e);
    }
    // The program's ends belong to it now.
    ::close(fds.release(stdin_read));
    ::close(fds.release(stdout_write));
    ::close(fds.release(stderr_write));
    return std::unique_ptr<Program>(new Program(std::move(executor), pid, fds.release(pidfd),
                                                fds.release(stdin_write), fds.release(stdout_read),
                                                fds.release(stderr_read), std::move(input), limits));
}

Program::Program(asio::any_io_executor executor, pid_t pid, int pidfd, int stdin_fd, int stdout_fd, int stderr_fd,
                 std::string input, ProgramLimits limits)
    : pid_(pid),
      pidfd_(executor, pidfd),
      stdin_(executor, stdin_fd),
      stdout_(executor, stdout_fd),
      stderr_(executor, stderr_fd),
      input_(std::move(input)),
      limits_(limits) {}

Program::~Program() {
    if (reaped_) return;
    kill();
    // SIGKILL cannot be caught: this returns (EINTR aside: Asio's handlers lack SA_RESTART).
    while (::waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {}
}

void Program::kill() noexcept {
    // Once reaped, the pid (and group id) may belong to another process. The pidfd reaches
    // the program even when it has moved to another group (setpgid).
    if (reaped_) return;
    ::kill(-pid_, SIGKILL);
    ::syscall(SYS_pidfd_send_signal, pidfd_.native_handle(), SIGKILL, nullptr, 0);
}

bool Program::try_reap() {
    if (reaped_) return true;
    int status = 0;
    pid_t got = -1;
    do got = ::waitpid(pid_, &status, WNOHANG);
    while (got < 0 && errno == EINTR);
    if (got == 0) return false;
    reaped_ = true;  // or gone (ECHILD: reaped by someone else), its status unknown
    if (got == pid_ && WIFEXITED(status)) end_.exit_status = WEXITSTATUS(status);
    else if (got == pid_ && WIFSIGNALED(status)) end_.signal = WTERMSIG(status);
    return true;
}

asio::awaitable<void> Program::feed_input() {
    // A program that ends without reading its input closes the pipe: EPIPE, not an error
    // of the run (SIGPIPE is ignored in jobq).
    co_await asio::async_write(stdin_, asio::buffer(input_), use_nothrow);
    boost::system::error_code ignored;
    stdin_.close(ignored);
}

asio::awaitable<void> Program::read_output() {
    std::array<char, 16 * 1024> chunk;
    for (;;) {
        auto [ec, n] = co_await stdout_.async_read_some(asio::buffer(chunk), use_nothrow);
        if (ec) co_return;
        const std::size_t room = limits_.output_bytes - end_.output.size();
        end_.output.append(chunk.data(), std::min(n, room));
        end_.output_truncated = end_.output_truncated || n > room;
    }
}

asio::awaitable<void> Program::read_error() {
    std::array<char, 16 * 1024> chunk;
    for (;;) {
        auto [ec, n] = co_await stderr_.async_read_some(asio::buffer(chunk), use_nothrow);
        if (ec) co_return;
        end_.error_tail.append(chunk.data(), n);
        // Keep a little more than the tail, so that the cut can find a character's start.
        if (end_.error_tail.size() > 4 * limits_.error_tail_bytes)
            end_.error_tail.erase(0, end_.error_tail.size() - 2 * limits_.error_tail_bytes);
    }
}

// The pidfd turns readable once, and Asio's reactor watches it edge-triggered: a wait
// started after that edge would never complete. So each wait first looks whether the
// program has ended already.
asio::awaitable<void> Program::wait_exit() {
    while (!try_reap()) {
        auto [ec] = co_await pidfd_.async_wait(asio::posix::descriptor_base::wait_read, use_nothrow);
        if (ec) co_return;  // cancelled
    }
}

asio::awaitable<void> Program::wait_exit_then_grace() {
    while (!try_reap()) {
        auto [ec] = co_await pidfd_.async_wait(asio::posix::descriptor_base::wait_read, use_nothrow);
        if (ec) co_return;
    }
    asio::steady_timer grace(pidfd_.get_executor(), output_grace);
    co_await grace.async_wait(use_nothrow);
}

asio::awaitable<ProgramEnd> Program::finish() {
    auto output_closed_or_ended = (feed_input() && read_output() && read_error()) || wait_exit_then_grace();
    co_await std::move(output_closed_or_ended);
    co_await wait_exit();
    end_.error_tail = utf8_tail(end_.error_tail, limits_.error_tail_bytes);
    co_return std::move(end_);
}

std::string utf8_tail(std::string_view text, std::size_t max) {
    if (text.size() > max) text.remove_prefix(text.size() - max);
    while (!text.empty() && (static_cast<unsigned char>(text.front()) & 0xC0) == 0x80) text.remove_prefix(1);
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size();) {
        const std::size_t length = utf8_sequence(text, i);
        if (length == 0) {
            out += '?';
            ++i;
        } else {
            out.append(text.substr(i, length));
            i += length;
        }
    }
    return out;
}

std::string find_program(const std::string& name, std::string_view path) {
    const auto runnable = [](const std::string& candidate) {
        struct stat info {};
        return ::stat(candidate.c_str(), &info) == 0 && S_ISREG(info.st_mode) && ::access(candidate.c_str(), X_OK) == 0;
    };
    if (name.empty()) return {};
    if (name.find('/') != std::string::npos) return runnable(name) ? name : std::string();
    for (std::size_t begin = 0; begin <= path.size();) {
        const auto end = std::min(path.find(':', begin), path.size());
        const std::string directory(path.substr(begin, end - begin));
        const std::string candidate = (directory.empty() ? std::string(".") : directory) + "/" + name;
        if (runnable(candidate)) return candidate;
        begin = end + 1;
    }
    return {};
}

}  // namespace jobq::app::cli
