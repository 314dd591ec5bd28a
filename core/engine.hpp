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
// Everything here runs on one strand, but for the handlers' runs: each on a strand of its
// own, its settlement back on the engine's. notify_enqueued() may be called from any thread.

#include "core/clock.hpp"
#include "core/handler_registry.hpp"
#include "core/job_notifier.hpp"
#include "core/job_store.hpp"
#include "core/leadership.hpp"
#include "core/loop_health.hpp"
#include "core/metrics.hpp"
#include "core/queue_rules.hpp"
#include "core/ready_queue.hpp"
#include "core/retry_policy.hpp"
#include "core/wake_signal.hpp"
#include "core/run_deadlines.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace jobq::core {

struct EngineOptions {
    std::size_t workers = 64;
    // Threads running the io_context. With more than one, each run gets a strand of its
    // own, so handlers' work spreads over them; with one there is nothing to spread, and
    // runs stay on the engine's strand (a strand and a hop per run saved).
    unsigned event_loop_threads = 1;
    Metrics* metrics = nullptr;  // optional; outlives the engine
    millis visibility_timeout_ms = 300'000;
    millis shutdown_timeout_ms = 30'000;
    RetryPolicyOptions retry;
    // Told whenever jobs may have become leasable by external workers (an enqueue, a
    // claim round that marked delayed jobs due, leases reaped); optional, outlives the engine.
    WakeSignal* lease_wakeups = nullptr;
    // The queues' rules the store's claims obey: the dispatcher wakes when a queue held back
    // by its rate limit gets a token, and when a job of a queue with a concurrency limit is
    // recorded. Optional; outlives the engine.
    const QueueRules* queue_rules = nullptr;
    // On several nodes: only the leader reaps expired leases. Optional (alone: it leads);
    // outlives the engine.
    const Leadership* leadership = nullptr;
};

class Engine final : public JobNotifier, public LoopHealth {
public:
    Engine(boost::asio::io_context& io, JobStore& store, const HandlerRegistry& handlers,
           EngineOptions options, Clock clock = system_clock());
    Engine(const Engine&) = delete;
    Engine& operator=(const Engine&) = delete;

    // Spawns the dispatcher, the workers and the reaper.
    void start();

    // A job was stored: the dispatcher should look. Thread-safe; wake-ups coalesce.
    void notify_enqueued() override;
    // An external lease was taken: the reaper looks again at the earliest expiry.
    void notify_leased() override;

    // Stops claiming, lets running jobs finish until shutdown_timeout, then cancels the
    // rest and requeues them. Completes when every engine coroutine has ended.
    boost::asio::awaitable<void> stop();

    // The engine's long-lived loops that are not running although they should be (none
    // before start() and once stop() began). Thread-safe: readiness asks from any thread.
    std::vector<std::string> loops_not_running() const override;

    // The execution deadline: shorter than the lease so a run is cancelled before
    // another process could re-claim the job.
    millis execution_timeout_ms() const;

private:
    boost::asio::awaitable<void> drain_and_stop();
    using time_point = std::chrono::steady_clock::time_point;

    // One round of a loop: when to run the next (nullopt: at once).
    using Round = boost::asio::awaitable<std::optional<time_point>> (Engine::*)();
    // Runs rounds until stop(), sleeping on `timer` in between: whatever a round throws is
    // logged, and the loop backs off and goes on.
    boost::asio::awaitable<void> keep_running(const char* name, Round round, boost::asio::steady_timer& timer);
    boost::asio::awaitable<void> dispatch_loop();
    // One claim: when to look again (nullopt: at once).
    boost::asio::awaitable<std::optional<time_point>> claim_round();
    boost::asio::awaitable<void> worker_loop();
    boost::asio::awaitable<void> reaper_loop();
    // One sweep of expired leases: when to look again (nullopt: at once).
    boost::asio::awaitable<std::optional<time_point>> reap_round();
    boost::asio::awaitable<void> enforce_deadlines();
    // process(), or a retryable failure when the engine itself failed running the job.
    boost::asio::awaitable<Settlement> process_or_fail(const Job& job);
    // Runs the job (or, past the shutdown deadline, gives it back): how it ended.
    boost::asio::awaitable<Settlement> process(const Job& job);
    boost::asio::awaitable<Outcome> execute(const Job& job);
    void record(Settlement settlement);
    // A recorded batch freed a place in a queue with a concurrency limit.
    bool frees_limited_place(const std::vector<Settlement>& batch) const;
    boost::asio::awaitable<void> record_loop();
    Settlement settlement_for(const Job& job, const Outcome& outcome);
    void record_run(const Job& job, Settlement::Kind kind, std::chrono::steady_clock::duration took);
    void set_in_flight(std::size_t n);

    void wake_dispatcher();
    void wake_lease_waiters();
    bool reap_pending_ = false;  // strand: a lease was taken since the reaper last looked
    std::optional<millis> waiting_due_at_;  // strand: when the earliest delayed job comes due
    void spawn(boost::asio::awaitable<void> task, const char* name);
    void task_ended();

    JobStore& store_;
    const HandlerRegistry& handlers_;
    EngineOptions options_;
    Clock clock_;
    RetryPolicy retry_policy_;
    boost::asio::io_context::executor_type executor_;  // each run gets a strand of its own on it
    boost::asio::strand<boost::asio::io_context::executor_type> strand_;

    ReadyQueue ready_;
    boost::asio::steady_timer dispatch_timer_;
    boost::asio::steady_timer reaper_timer_;
    boost::asio::steady_timer stop_timer_;  // woken whenever stop() may make progress
    boost::asio::steady_timer record_timer_;  // the recorder's back-off
    RunDeadlines deadlines_;  // of the runs in progress

    std::atomic<bool> wake_posted_{false};
    bool wake_pending_ = false;
    std::atomic<bool> stopping_{false};  // set on the strand; read by loops_not_running() too
    bool interrupting_ = false;  // past the shutdown deadline: cancel and requeue
    std::size_t in_flight_ = 0;  // claimed and not yet finished running (recording is the recorder's)
    std::vector<Settlement> unrecorded_;  // outcomes waiting for the recorder
    std::size_t tasks_running_ = 0;

    // Each set while its loop runs (by a scope guard); atomic for loops_not_running().
    std::atomic<bool> started_{false};
    std::atomic<bool> dispatcher_running_{false};
    std::atomic<bool> reaper_running_{false};
    std::atomic<bool> deadlines_running_{false};
    std::atomic<bool> recorder_running_{false};
    std::atomic<std::size_t> workers_alive_{0};
};

}  // namespace jobq::core
