#include "app/cli/work.hpp"

#include "app/cli/cli.hpp"
#include "app/cli/program.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>

#include <algorithm>
#include <charconv>
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <set>

#include <unistd.h>

extern char** environ;

namespace jobq::app::cli {

namespace asio = boost::asio;
namespace json = boost::json;
using namespace asio::experimental::awaitable_operators;
using std::chrono::milliseconds;

namespace {

constexpr auto use_nothrow = asio::as_tuple(asio::use_awaitable);
constexpr std::int64_t poll_wait_ms = 30'000;                // each long poll's wait
constexpr milliseconds request_timeout{10'000};              // ack, fail, extend, release
constexpr milliseconds poll_timeout{poll_wait_ms + 15'000};  // the wait, and the request itself
constexpr milliseconds first_pause{100};
constexpr milliseconds longest_pause{5'000};
constexpr milliseconds hurried_retries{2'000};  // after a second signal
constexpr std::size_t max_result_bytes = 64 * 1024;
constexpr int permanent_failure_status = 65;  // EX_DATAERR

std::optional<std::int64_t> integer_in(const std::optional<std::string>& text, std::int64_t low, std::int64_t high) {
    const auto value = text ? parse_integer(*text) : std::nullopt;
    if (!value || *value < low || *value > high) return std::nullopt;
    return value;
}

// "a,b" given twice as --type a,b --type c: a, b, c.
std::vector<std::string> split_lists(const Arguments& arguments, std::string_view option) {
    std::vector<std::string> names;
    const auto it = arguments.options.find(option);
    if (it == arguments.options.end()) return names;
    for (const auto& value : it->second) {
        for (std::size_t begin = 0; begin <= value.size();) {
            const auto end = std::min(value.find(',', begin), value.size());
            if (end > begin) names.push_back(value.substr(begin, end - begin));
            begin = end + 1;
        }
    }
    return names;
}

struct LeasedJob {
    std::int64_t id = 0;
    std::string type;
    std::string queue;
    std::string payload;  // JSON text
    std::string token;
    std::int64_t attempt = 0;
};

std::vector<LeasedJob> leased_jobs(const std::string& body) {
    std::vector<LeasedJob> jobs;
    const auto answer = json::parse(body);
    for (const auto& value : answer.at("jobs").as_array()) {
        const auto& job = value.as_object();
        const auto& lease = job.at("lease").as_object();
        jobs.push_back({.id = job.at("id").as_int64(),
                        .type = std::string(job.at("type").as_string()),
                        .queue = std::string(job.at("queue").as_string()),
                        .payload = json::serialize(job.at("payload")),
                        .token = std::string(lease.at("token").as_string()),
                        .attempt = lease.at("attempt").as_int64()});
    }
    return jobs;
}

// Set once; wakes every waiter at once. Waiting is a timer that never expires unless set.
class Event {
public:
    explicit Event(asio::any_io_executor executor) : timer_(std::move(executor), asio::steady_timer::time_point::max()) {}
    void set() {
        is_set_ = true;
        timer_.cancel();
    }
    bool is_set() const { return is_set_; }
    asio::awaitable<void> wait() {
        while (!is_set_) {
            auto [ec] = co_await timer_.async_wait(use_nothrow);
            if (ec && !is_set_) co_return;  // the wait itself was cancelled
        }
    }

private:
    asio::steady_timer timer_;
    bool is_set_ = false;
};

// The program's environment: jobq's own, with the job's identity added and without
// jobq's tokens (a program gets no more than its job).
std::vector<std::string> environment_for(const LeasedJob& job) {
    static const std::vector<std::string> names = {"JOBQ_JOB_ID=", "JOBQ_JOB_TYPE=", "JOBQ_QUEUE=", "JOBQ_ATTEMPT="};
    static const std::vector<std::string> withheld = {"JOBQ_API_TOKEN=", "JOBQ_WORKER_TOKEN="};
    const auto named = [](std::string_view variable, const std::vector<std::string>& list) {
        return std::any_of(list.begin(), list.end(), [&](const std::string& n) { return variable.starts_with(n); });
    };
    std::vector<std::string> variables;
    for (char** entry = environ; *entry; ++entry) {
        const std::string_view variable(*entry);
        if (!named(variable, names) && !named(variable, withheld)) variables.emplace_back(variable);
    }
    variables.push_back(names[0] + std::to_string(job.id));
    variables.push_back(names[1] + job.type);
    variables.push_back(names[2] + job.queue);
    variables.push_back(names[3] + std::to_string(job.attempt));
    return variables;
}

// stdout as the ack's result: when it is JSON and small enough as the server will store
// it (serialized: 0.5 becomes 5E-1, so the size may grow); otherwise none.
std::optional<json::value> result_of(const ProgramEnd& end) {
    if (end.output_truncated) return std::nullopt;
    boost::system::error_code ec;
    auto value = json::parse(end.output, ec);
    if (ec || json::serialize(value).size() > max_result_bytes) return std::nullopt;
    return value;
}

std::string error_of(const ProgramEnd& end) {
    std::string error = end.error_tail;
    while (!error.empty() && std::isspace(static_cast<unsigned char>(error.back()))) error.pop_back();
    return error.empty() ? end.describe() : error;
}

// The request that settles a finished run: its path and body.
std::pair<std::string, std::string> settlement_for(const LeasedJob& job, const ProgramEnd& end) {
    const std::string path = "/jobs/" + std::to_string(job.id);
    json::object body{{"token", job.token}};
    if (end.exit_status == 0) {
        if (auto result = result_of(end)) body["result"] = std::move(*result);
        return {path + "/ack", json::serialize(body)};
    }
    body["error"] = error_of(end);
    body["retryable"] = end.exit_status != permanent_failure_status;
    return {path + "/fail", json::serialize(body)};
}

// Gives a job back: queued again, the attempt not counted.
std::pair<std::string, std::string> release_for(const LeasedJob& job) {
    return {"/jobs/" + std::to_string(job.id) + "/release", json::serialize(json::object{{"token", job.token}})};
}

std::string worker_name() {
    char host[256] = {};
    if (::gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
    return std::string(host) + ":" + std::to_string(::getpid());
}

class Worker {
public:
    Worker(asio::io_context& io, const Endpoint& endpoint, WorkOptions options)
        : executor_(io.get_executor()),
          options_(std::move(options)),
          poll_client_(executor_, endpoint, poll_timeout),
          client_(executor_, endpoint, request_timeout),
          stopping_(executor_),
          all_settled_(executor_),
          first_lease_body_(lease_body(0)),
          lease_body_(lease_body(poll_wait_ms)) {}

    asio::awaitable<void> slot();
    asio::awaitable<void> watch_signals();
    int exit_status() const { return exit_status_; }
    // Leases nothing more; running programs get the shutdown timeout. The exit status is
    // the first one given.
    void shut_down(int status);

private:
    struct Run {
        const LeasedJob& job;
        Program& program;
        bool lease_lost = false;
        bool stopped = false;  // killed at shutdown: the job is released
    };
    // Keeps a run where the shutdown finds it, for as long as it runs.
    class Registered {
    public:
        Registered(std::set<Run*>& runs, Run& run) : runs_(runs), run_(run) { runs_.insert(&run_); }
        ~Registered() { runs_.erase(&run_); }
        Registered(const Registered&) = delete;
        Registered& operator=(const Registered&) = delete;

    private:
        std::set<Run*>& runs_;
        Run& run_;
    };

    std::string lease_body(std::int64_t wait_ms) const;
    asio::awaitable<std::vector<LeasedJob>> lease(milliseconds& backoff);
    asio::awaitable<void> run(const LeasedJob& job, milliseconds& backoff);
    asio::awaitable<void> keep_lease(Run& run);
    asio::awaitable<void> give_back(const LeasedJob& job);
    asio::awaitable<void> send_until_answered(const LeasedJob& job, std::string path, std::string body);
    asio::awaitable<void> pause(milliseconds& backoff);
    asio::awaitable<void> stop_programs_after_timeout();
    std::chrono::steady_clock::time_point retry_deadline(std::chrono::steady_clock::time_point lease_end) const;
    void finished_run();

    // The awaitables built outside coroutine bodies (GCC 12 mishandles temporaries that own
    // strings inside a co_await expression).
    asio::awaitable<CallResult> poll_request() {
        // The first poll does not wait: a server restarted during a first long wait would
        // otherwise look like one never reached.
        return poll_client_.call("POST", "/leases", reached_server_ ? lease_body_ : first_lease_body_);
    }
    asio::awaitable<CallResult> extend_request(const LeasedJob& job) {
        return client_.call("POST", "/jobs/" + std::to_string(job.id) + "/extend",
                            json::serialize(json::object{{"token", job.token}, {"lease_ms", options_.lease_ms}}));
    }
    asio::awaitable<CallResult> post(const std::string& path, const std::string& body) {
        return client_.call("POST", path, body);
    }
    asio::awaitable<void> wait_for(milliseconds delay) {
        asio::steady_timer timer(executor_, delay);
        co_await timer.async_wait(use_nothrow);
    }

    asio::any_io_executor executor_;
    WorkOptions options_;
    ApiClient poll_client_;
    ApiClient client_;
    Event stopping_;     // a signal, or a refusal: nothing more is leased
    Event all_settled_;  // stopping, and no program runs; or a second signal
    std::string first_lease_body_;
    std::string lease_body_;
    std::set<Run*> runs_;
    std::chrono::steady_clock::time_point stop_deadline_ = std::chrono::steady_clock::time_point::max();
    // A second signal: programs stopped at once, settlements tried for a moment only.
    std::chrono::steady_clock::time_point hurry_deadline_ = std::chrono::steady_clock::time_point::max();
    bool reached_server_ = false;
    int exit_status_ = done;
};

std::string Worker::lease_body(std::int64_t wait_ms) const {
    json::object body{{"max", 1}, {"wait_ms", wait_ms}, {"lease_ms", options_.lease_ms}, {"worker", worker_name()}};
    body["types"] = json::value_from(options_.types);
    if (!options_.queues.empty()) body["queues"] = json::value_from(options_.queues);
    return json::serialize(body);
}

void Worker::shut_down(int status) {
    if (exit_status_ == done) exit_status_ = status;
    if (stopping_.is_set()) return;
    stop_deadline_ = std::chrono::steady_clock::now() + milliseconds(options_.shutdown_timeout_ms);
    stopping_.set();
    if (runs_.empty()) all_settled_.set();
    asio::co_spawn(executor_, stop_programs_after_timeout(), asio::detached);
}

void Worker::finished_run() {
    if (stopping_.is_set() && runs_.empty()) all_settled_.set();
}

asio::awaitable<void> Worker::stop_programs_after_timeout() {
    auto timeout_or_settled = wait_for(milliseconds(options_.shutdown_timeout_ms)) || all_settled_.wait();
    co_await std::move(timeout_or_settled);
    for (Run* run : runs_) {
        run->stopped = true;
        run->program.kill();
    }
}

// For the whole run: the first signal stops leasing, the next ones stop the programs at
// once. The signal_set stays, so that no later signal finds the default action (which
// would end jobq and leave the programs and their leases behind).
asio::awaitable<void> Worker::watch_signals() {
    asio::signal_set signals(executor_, SIGTERM, SIGINT);
    for (;;) {
        auto [ec, signal] = co_await signals.async_wait(use_nothrow);
        if (ec) co_return;
        if (!stopping_.is_set()) {
            if (!runs_.empty())
                std::cerr << "jobq work: stopping; " << runs_.size() << " running program(s) may finish within "
                          << options_.shutdown_timeout_ms << " ms\n";
            shut_down(done);
        } else {
            hurry_deadline_ = std::min(hurry_deadline_, std::chrono::steady_clock::now() + hurried_retries);
            all_settled_.set();
        }
    }
}

asio::awaitable<void> Worker::pause(milliseconds& backoff) {
    auto paused = wait_for(backoff) || stopping_.wait();
    co_await std::move(paused);
    backoff = std::min(backoff * 2, longest_pause);
}

// One lease request; no jobs when it waited in vain, when jobq is stopping, or when it
// failed (after a pause, or with shut_down when retrying cannot help).
asio::awaitable<std::vector<LeasedJob>> Worker::lease(milliseconds& backoff) {
    auto poll = poll_request() || stopping_.wait();
    auto outcome = co_await std::move(poll);
    if (outcome.index() == 1) co_return std::vector<LeasedJob>{};
    const CallResult& result = std::get<0>(outcome);
    if (!result) {
        if (!reached_server_) {
            std::cerr << "jobq work: the server could not be reached: " << result.error().message << "\n";
            shut_down(unreachable);
        } else {
            if (backoff == first_pause)
                std::cerr << "jobq work: the server could not be reached, trying again: " << result.error().message
                          << "\n";
            co_await pause(backoff);
        }
        co_return std::vector<LeasedJob>{};
    }
    if (!reached_server_) {
        reached_server_ = true;
        std::cerr << "jobq work: working for " << poll_client_.endpoint_text() << ", " << options_.concurrency
                  << " at a time\n";
    }
    if (result->ok()) {
        backoff = first_pause;
        co_return leased_jobs(result->body);
    }
    // Busy or going down (a restart): wait for it. Anything else is ours to fix.
    if (result->status == 429 || result->status >= 500) {
        co_await pause(backoff);
    } else {
        std::cerr << "jobq work: the server refused the lease request: " << result->error_text() << "\n";
        shut_down(refused);
    }
    co_return std::vector<LeasedJob>{};
}

asio::awaitable<void> Worker::slot() {
    milliseconds poll_backoff = first_pause;
    // Apart from the poll's: a program that cannot start must slow the slot down even
    // though every lease succeeds.
    milliseconds start_backoff = first_pause;
    try {
        while (!stopping_.is_set()) {
            const auto jobs = co_await lease(poll_backoff);
            for (const auto& job : jobs) {
                // Leased as the stop began: given back, not started past the shutdown's kill.
                if (stopping_.is_set()) co_await give_back(job);
                else co_await run(job, start_backoff);
            }
        }
    } catch (const std::exception& e) {
        // An answer that is not the documented JSON: no slot goes on unseen without it.
        std::cerr << "jobq work: unexpected answer from the server: " << e.what() << "\n";
        shut_down(refused);
    }
}

asio::awaitable<void> Worker::give_back(const LeasedJob& job) {
    auto [path, body] = release_for(job);
    auto sending = send_until_answered(job, std::move(path), std::move(body));
    co_await std::move(sending);
}

asio::awaitable<void> Worker::run(const LeasedJob& job, milliseconds& backoff) {
    auto started = Program::start(executor_, options_.program, environment_for(job), job.payload);
    if (auto* problem = std::get_if<std::string>(&started)) {
        // Not the job's fault (too many open files, the program being replaced): it goes
        // back without losing an attempt, and this slot pauses.
        co_await give_back(job);
        std::cerr << "jobq work: job " << job.id << ": " << *problem << "; the job was given back, next try in "
                  << backoff.count() << " ms\n";
        co_await pause(backoff);
        co_return;
    }
    backoff = first_pause;
    Program& program = *std::get<0>(started);
    Run state{job, program};
    std::optional<ProgramEnd> end;
    {
        const Registered registered(runs_, state);
        auto running = program.finish() || keep_lease(state);
        auto outcome = co_await std::move(running);
        if (outcome.index() == 0) end = std::get<0>(std::move(outcome));
    }
    if (state.lease_lost) {
        std::cerr << "jobq work: job " << job.id << ": the lease was lost (it ran out, or the job was deleted); its "
                  << "program was stopped\n";
    } else if (!end || (state.stopped && !end->exit_status) || (!end->exit_status && !end->signal)) {
        // Killed at shutdown, or its end unknown (reaped elsewhere): queued again without
        // counting the attempt.
        co_await give_back(job);
    } else {
        auto [path, body] = settlement_for(job, *end);
        auto sending = send_until_answered(job, std::move(path), std::move(body));
        co_await std::move(sending);
    }
    finished_run();
}

// Extends the lease every third of it while the program runs; ends only when cancelled
// (the program finished). A lease found lost (409), or a job deleted meanwhile (404),
// stops the program: another worker has the job, or nobody wants it, and this run's
// result could not be settled anyway.
asio::awaitable<void> Worker::keep_lease(Run& state) {
    const milliseconds every(std::max<std::int64_t>(options_.lease_ms / 3, 1));
    for (;;) {
        co_await wait_for(every);
        auto extend = extend_request(state.job);
        const auto result = co_await std::move(extend);
        if (result && (result->status == 409 || result->status == 404)) {
            state.lease_lost = true;
            state.program.kill();
        } else if (!result || !result->ok()) {
            std::cerr << "jobq work: job " << state.job.id << ": extending the lease failed: "
                      << (result ? result->error_text() : result.error().message) << "\n";
        }
    }
}

// How long a settlement is tried again: while the lease lasts (after it, the server runs
// the job again anyway), and once stopping, no longer than the shutdown allows.
std::chrono::steady_clock::time_point Worker::retry_deadline(std::chrono::steady_clock::time_point lease_end) const {
    return std::min({lease_end, stop_deadline_, hurry_deadline_});
}

// Settles (or releases) a job, tried again while the server cannot be reached or is busy,
// until retry_deadline. A refusal (409: the lease was lost) is reported, not retried.
asio::awaitable<void> Worker::send_until_answered(const LeasedJob& job, std::string path, std::string body) {
    const auto lease_end = std::chrono::steady_clock::now() + milliseconds(options_.lease_ms);
    milliseconds backoff = first_pause;
    for (;;) {
        auto request = post(path, body);
        const auto result = co_await std::move(request);
        if (result && result->ok()) co_return;
        const bool transient = !result || result->status == 429 || result->status >= 500;
        if (!transient || std::chrono::steady_clock::now() + backoff > retry_deadline(lease_end)) {
            std::cerr << "jobq work: job " << job.id << ": " << path.substr(path.rfind('/') + 1) << " failed: "
                      << (result ? result->error_text() : result.error().message) << "\n";
            co_return;
        }
        co_await wait_for(backoff);
        backoff = std::min(backoff * 2, longest_pause);
    }
}

}  // namespace

std::variant<WorkOptions, std::string> work_options(const Arguments& arguments) {
    WorkOptions options;
    if (!arguments.positional.empty())
        return "unexpected '" + arguments.positional.front() + "' (the program comes after --)";
    options.types = split_lists(arguments, "type");
    if (options.types.empty()) return "--type is required: the job types to work on";
    options.queues = split_lists(arguments, "queue");
    if (auto text = arguments.option("concurrency")) {
        const auto n = integer_in(text, 1, 1'000);
        if (!n) return "--concurrency must be from 1 to 1000, not '" + *text + "'";
        options.concurrency = *n;
    }
    if (auto text = arguments.option("lease-ms")) {
        const auto n = integer_in(text, 1'000, 86'400'000);
        if (!n) return "--lease-ms must be from 1000 to 86400000, not '" + *text + "'";
        options.lease_ms = *n;
    }
    if (auto text = arguments.option("shutdown-timeout-ms")) {
        const auto n = integer_in(text, 0, 86'400'000);
        if (!n) return "--shutdown-timeout-ms must be from 0 to 86400000, not '" + *text + "'";
        options.shutdown_timeout_ms = *n;
    }
    if (arguments.program.empty()) return "the program to run comes after --: jobq work --type T -- PROGRAM [ARGS]";
    const char* path = std::getenv("PATH");
    const auto found = find_program(arguments.program.front(), path ? path : "/usr/bin:/bin");
    if (found.empty()) return "cannot find the program '" + arguments.program.front() + "' (or it is not executable)";
    options.program = arguments.program;
    options.program.front() = found;
    return options;
}

int run_worker(Endpoint endpoint, WorkOptions options) {
    // Writing a payload to a program that has ended must be an error, not the end of jobq;
    // and an ignored SIGCHLD (inherited) would reap the programs before their pidfds could.
    std::signal(SIGPIPE, SIG_IGN);
    std::signal(SIGCHLD, SIG_DFL);
    asio::io_context io;
    const auto slots = static_cast<std::size_t>(options.concurrency);
    Worker worker(io, endpoint, std::move(options));
    std::size_t running = slots;
    std::exception_ptr failure;
    for (std::size_t i = 0; i < slots; ++i) {
        asio::co_spawn(io, worker.slot(), [&](std::exception_ptr error) {
            if (error && !failure) failure = error;
            // The clients keep coroutines that close idle connections: the work is over.
            if (--running == 0) io.stop();
        });
    }
    asio::co_spawn(io, worker.watch_signals(), asio::detached);
    io.run();
    if (failure) std::rethrow_exception(failure);
    return worker.exit_status();
}

}  // namespace jobq::app::cli
