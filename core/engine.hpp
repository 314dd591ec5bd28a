#pragma once
// The engine runs every stored job at least once.
//
//   dispatcher: claims as many runnable jobs as there are free workers, in one batch,
//               when an event says there may be work (an enqueue, a worker finishing,
//               the timer for the earliest future run_at). It never polls.
//   workers:    `workers` coroutines taking jobs from the ReadyQueue; each run has a
//               deadline shorter than the lease and a failure never ends a worker. A
//               worker leaves the outcome to the recorder and takes the next job at once.
//   recorder:   writes the outcomes gathered meanwhile in one store call (one
//               transaction) at a time, while there are any: no worker idles for an
//               fsync, and a thousand outcomes cost one operation, not a thousand.
//   reaper:     sleeps until the earliest lease expiry, then requeues (or dead-letters)
//               jobs whose lease ran out.
//
// Everything here runs on one strand; notify_enqueued() may be called from any thread.

#include "core/clock.hpp"
#include "core/handler_registry.hpp"
#include "core/job_store.hpp"
#include "core/metrics.hpp"
#include "core/ready_queue.hpp"
#include "core/retry_policy.hpp"
#include "core/run_deadlines.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include <atomic>
#include <cstddef>
#include <vector>

namespace jobq::core {

struct EngineOptions {
    std::size_t workers = 64;
    Metrics* metrics = nullptr;  // optional; outlives the engine
    millis visibility_timeout_ms = 300'000;
    millis shutdown_timeout_ms = 30'000;
    RetryPolicyOptions retry;
};

class Engine {
public:
    Engine(boost::asio::io_context& io, JobStore& store, const HandlerRegistry& handlers,
           EngineOptions options, Clock clock = system_clock());
    Engine(const Engine&) = delete;
    Engine& operator=(const Engine&) = delete;

    // Spawns the dispatcher, the workers and the reaper.
    void start();

    // A job was stored: the dispatcher should look. Thread-safe; wake-ups coalesce.
    void notify_enqueued();

    // Stops claiming, lets running jobs finish until shutdown_timeout, then cancels the
    // rest and requeues them. Completes when every engine coroutine has ended.
    boost::asio::awaitable<void> stop();

    // The execution deadline: shorter than the lease so a run is cancelled before
    // another process could re-claim the job.
    millis execution_timeout_ms() const;

private:
    boost::asio::awaitable<void> drain_and_stop();
    boost::asio::awaitable<void> dispatch_loop();
    boost::asio::awaitable<void> worker_loop();
    boost::asio::awaitable<void> reaper_loop();
    // Runs the job (or, past the shutdown deadline, gives it back): how it ended.
    boost::asio::awaitable<Settlement> process(Job job);
    boost::asio::awaitable<Outcome> execute(const Job& job);
    void record(Settlement settlement);
    boost::asio::awaitable<void> record_loop();
    Settlement settlement_for(const Job& job, const Outcome& outcome);
    void record_run(const Job& job, Settlement::Kind kind, std::chrono::steady_clock::duration took);
    void set_in_flight(std::size_t n);

    void wake_dispatcher();
    void spawn(boost::asio::awaitable<void> task, const char* name);
    void task_ended();

    JobStore& store_;
    const HandlerRegistry& handlers_;
    EngineOptions options_;
    Clock clock_;
    RetryPolicy retry_policy_;
    boost::asio::strand<boost::asio::io_context::executor_type> strand_;

    ReadyQueue ready_;
    boost::asio::steady_timer dispatch_timer_;
    boost::asio::steady_timer reaper_timer_;
    boost::asio::steady_timer stop_timer_;  // woken whenever stop() may make progress
    RunDeadlines deadlines_;  // of the runs in progress

    std::atomic<bool> wake_posted_{false};
    bool wake_pending_ = false;
    bool stopping_ = false;
    bool interrupting_ = false;  // past the shutdown deadline: cancel and requeue
    std::size_t in_flight_ = 0;  // claimed and not yet finished running (recording is the recorder's)
    std::vector<Settlement> unrecorded_;  // outcomes waiting for the recorder
    bool recorder_running_ = false;
    std::size_t tasks_running_ = 0;
    bool dispatcher_running_ = false;
};

}  // namespace jobq::core
