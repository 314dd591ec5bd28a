#include "core/engine.hpp"

#include "common/asio_tokens.hpp"
#include "core/log.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <chrono>
#include <exception>
#include <iterator>

namespace jobq::core {

namespace asio = boost::asio;

namespace {

// After a failure (the store's or any other) a loop waits this long before trying again.
constexpr std::chrono::milliseconds failure_backoff{500};
// While another node leads, how often the reaper looks whether this one does now.
constexpr std::chrono::milliseconds follower_look{1'000};
// A batch of outcomes the store refused is offered again this many times in all, then left
// to the reaper (the rows stay `processing` until their leases expire).
constexpr int settle_tries = 3;

using time_point = std::chrono::steady_clock::time_point;

bool requeues(const Settlement& s) { return s.kind == Settlement::Kind::retry || s.kind == Settlement::Kind::released; }

// Sets a loop's running flag for as long as the loop's frame lives, however it ends.
class RunningFlag {
public:
    explicit RunningFlag(std::atomic<bool>& flag) : flag_(flag) { flag_.store(true, std::memory_order_release); }
    RunningFlag(const RunningFlag&) = delete;
    RunningFlag& operator=(const RunningFlag&) = delete;
    ~RunningFlag() { flag_.store(false, std::memory_order_release); }

private:
    std::atomic<bool>& flag_;
};

// Counts a worker out when its frame ends, however it ends (start() counts them in).
class CountedOut {
public:
    explicit CountedOut(std::atomic<std::size_t>& count) : count_(count) {}
    CountedOut(const CountedOut&) = delete;
    CountedOut& operator=(const CountedOut&) = delete;
    ~CountedOut() { count_.fetch_sub(1, std::memory_order_acq_rel); }

private:
    std::atomic<std::size_t>& count_;
};

std::chrono::steady_clock::time_point steady_deadline(millis from_now_ms) {
    const auto now = std::chrono::steady_clock::now();
    // Clamp: a run_at years away must not overflow the steady clock.
    const millis clamped = std::clamp<millis>(from_now_ms, 0, millis{1} << 40);
    return now + std::chrono::milliseconds(clamped);
}

std::string describe(std::exception_ptr e) {
    try {
        std::rethrow_exception(e);
    } catch (const std::exception& ex) {
        return ex.what();
    } catch (...) {
        return "unknown exception";
    }
}

}  // namespace

Engine::Engine(asio::io_context& io, JobStore& store, const HandlerRegistry& handlers,
               EngineOptions options, Clock clock)
    : store_(store),
      handlers_(handlers),
      options_(options),
      clock_(std::move(clock)),
      retry_policy_(options.retry),
      executor_(io.get_executor()),
      strand_(asio::make_strand(io)),
      ready_(strand_),
      dispatch_timer_(strand_),
      reaper_timer_(strand_),
      stop_timer_(strand_),
      record_timer_(strand_),
      deadlines_(strand_) {
    options_.workers = std::max<std::size_t>(options_.workers, 1);
    if (options_.metrics) options_.metrics->workers_total = static_cast<std::int64_t>(options_.workers);
}

millis Engine::execution_timeout_ms() const {
    // Leave a tenth of the lease (at most 5 s) to record the outcome before it expires.
    const millis margin = std::min<millis>(options_.visibility_timeout_ms / 10, 5'000);
    return std::max<millis>(options_.visibility_timeout_ms - margin, 1);
}

void Engine::spawn(asio::awaitable<void> task, const char* name) {
    ++tasks_running_;
    asio::co_spawn(strand_, std::move(task), [this, name](std::exception_ptr e) {
        if (e) log::error("engine task ended by an exception", {{"task", name}, {"error", describe(e)}});
        task_ended();
    });
}

void Engine::task_ended() {
    --tasks_running_;
    stop_timer_.cancel();
}

void Engine::start() {
    started_.store(true, std::memory_order_release);
    // Set before the loops first run: /readyz must not see them as ended while they start.
    dispatcher_running_ = reaper_running_ = deadlines_running_ = true;
    workers_alive_ = options_.workers;
    asio::post(strand_, [this] {
        spawn(dispatch_loop(), "dispatcher");
        spawn(reaper_loop(), "reaper");
        spawn(enforce_deadlines(), "deadlines");
        for (std::size_t i = 0; i < options_.workers; ++i) spawn(worker_loop(), "worker");
    });
}

std::vector<std::string> Engine::loops_not_running() const {
    std::vector<std::string> ended;
    if (!started_.load(std::memory_order_acquire) || stopping_.load(std::memory_order_acquire)) return ended;
    if (!dispatcher_running_.load(std::memory_order_acquire)) ended.emplace_back("dispatcher");
    if (!reaper_running_.load(std::memory_order_acquire)) ended.emplace_back("reaper");
    if (!deadlines_running_.load(std::memory_order_acquire)) ended.emplace_back("deadlines");
    const auto workers = workers_alive_.load(std::memory_order_acquire);
    if (workers < options_.workers)
        ended.emplace_back("workers (" + std::to_string(options_.workers - workers) + " of " +
                           std::to_string(options_.workers) + " ended)");
    return ended;
}

void Engine::wake_lease_waiters() {
    if (options_.lease_wakeups) options_.lease_wakeups->notify_all();
}

void Engine::notify_leased() {
    asio::post(strand_, [this] {
        reap_pending_ = true;
        reaper_timer_.cancel();
    });
}

void Engine::notify_enqueued() {
    // One post per burst of enqueues, however many arrive before the strand runs it.
    if (wake_posted_.exchange(true, std::memory_order_acq_rel)) return;
    asio::post(strand_, [this] {
        wake_posted_.store(false, std::memory_order_release);
        wake_dispatcher();
    });
}

asio::awaitable<void> Engine::enforce_deadlines() {
    const RunningFlag running(deadlines_running_);
    co_await deadlines_.enforce();
}

void Engine::wake_dispatcher() {
    wake_pending_ = true;
    dispatch_timer_.cancel();
}

asio::awaitable<void> Engine::keep_running(const char* name, Round round, asio::steady_timer& timer) {
    while (!stopping_) {
        std::optional<time_point> wake_at;
        try {
            wake_at = co_await (this->*round)();
        } catch (...) {
            log::error("engine loop failed; trying again", {{"loop", name}, {"error", describe(std::current_exception())}});
            wake_at = std::chrono::steady_clock::now() + failure_backoff;
        }
        // No co_await between this check and the wait: a wake-up cannot slip in between.
        if (!wake_at || stopping_) continue;
        timer.expires_at(*wake_at);
        co_await timer.async_wait(use_nothrow);
    }
}

asio::awaitable<void> Engine::dispatch_loop() {
    const RunningFlag running(dispatcher_running_);
    co_await keep_running("dispatcher", &Engine::claim_round, dispatch_timer_);
}

asio::awaitable<std::optional<time_point>> Engine::claim_round() {
    wake_pending_ = false;  // from here on, a wake-up means look again
    const std::size_t free_workers = options_.workers - in_flight_;
    const millis now = clock_();
    // A delayed job has come due, maybe an external one: long polls for leases look again
    // (they mark external jobs due themselves). Not on every round: each look is a write.
    if (waiting_due_at_ && *waiting_due_at_ <= now) {
        waiting_due_at_.reset();
        wake_lease_waiters();
    }
    // Every worker is busy: the next event is a worker finishing, or a delayed job coming due.
    if (free_workers == 0)
        co_return waiting_due_at_ ? steady_deadline(*waiting_due_at_ - now) : time_point::max();
    ClaimRequest request;
    request.max = free_workers;
    request.now = now;
    request.lease_until = now + options_.visibility_timeout_ms;
    auto jobs = co_await store_.claim(std::move(request));
    set_in_flight(in_flight_ + jobs.size());
    const bool maybe_more = jobs.size() == free_workers;
    for (auto& job : jobs) ready_.push(std::move(job));
    if (maybe_more || wake_pending_ || stopping_) co_return std::nullopt;
    const auto next_run_at = co_await store_.next_run_at();
    waiting_due_at_ = next_run_at;
    if (wake_pending_ || stopping_) co_return std::nullopt;
    // A queue held back by its rate limit gets a token: a timer, as for a delayed job.
    auto wake_at = next_run_at;
    if (options_.queue_rules)
        if (const auto token_at = options_.queue_rules->next_token_at(QueueRules::Claimer::built_in))
            wake_at = std::min(wake_at.value_or(*token_at), *token_at);
    co_return wake_at ? steady_deadline(*wake_at - clock_()) : time_point::max();
}

asio::awaitable<void> Engine::reaper_loop() {
    const RunningFlag running(reaper_running_);
    co_await keep_running("reaper", &Engine::reap_round, reaper_timer_);
}

asio::awaitable<std::optional<time_point>> Engine::reap_round() {
    // Another node leads and reaps: look again in a while, should this one take over.
    if (!leads(options_.leadership)) co_return std::chrono::steady_clock::now() + follower_look;
    const auto earliest = co_await store_.next_lease_expiry();
    const millis now = clock_();
    if (earliest && *earliest <= now) {
        const auto report = co_await store_.reap_expired(now);
        if (report.requeued + report.dead_lettered > 0) {
            log::warn("leases expired", {{"requeued", std::to_string(report.requeued)},
                                         {"dead_lettered", std::to_string(report.dead_lettered)}});
            wake_dispatcher();
            wake_lease_waiters();
        }
        co_return std::nullopt;
    }
    // A lease taken meanwhile may expire before the earliest read above.
    if (std::exchange(reap_pending_, false)) co_return std::nullopt;
    // A built-in lease taken from now on expires no sooner than a visibility timeout away;
    // an external one wakes the reaper (notify_leased).
    const millis wake_at = earliest.value_or(now + options_.visibility_timeout_ms);
    co_return steady_deadline(wake_at - now + 1);
}

asio::awaitable<void> Engine::worker_loop() {
    const CountedOut counted(workers_alive_);
    while (auto job = co_await ready_.pop()) {
        record(co_await process_or_fail(*job));
        set_in_flight(in_flight_ - 1);
        wake_dispatcher();
        if (stopping_) stop_timer_.cancel();
    }
}

asio::awaitable<Settlement> Engine::process_or_fail(const Job& job) {
    std::exception_ptr failure;
    try {
        co_return co_await process(job);
    } catch (...) {
        failure = std::current_exception();
    }
    // Not a handler's failure (those are outcomes): a fault of the engine's own. The job
    // is settled as a retryable failure so the worker and its count stay right.
    log::error("running a job failed", {{"job", std::to_string(job.id)}, {"error", describe(failure)}});
    co_return settlement_for(job, Outcome::retryable("internal error: " + describe(failure)));
}

asio::awaitable<Settlement> Engine::process(const Job& job) {
    if (interrupting_)
        co_return Settlement{job.id,  job.attempts, Settlement::Kind::released, clock_(), 0, "interrupted by shutdown",
                             job.queue, job.type};
    const auto started = std::chrono::steady_clock::now();
    const Outcome outcome = co_await execute(job);
    auto settlement = settlement_for(job, outcome);
    record_run(job, settlement.kind, std::chrono::steady_clock::now() - started);
    co_return settlement;
}

void Engine::record_run(const Job& job, Settlement::Kind kind, std::chrono::steady_clock::duration took) {
    if (!options_.metrics) return;
    std::string_view outcome = "succeeded";
    switch (kind) {
        case Settlement::Kind::done: outcome = "succeeded"; break;
        case Settlement::Kind::retry: outcome = "retried"; break;
        case Settlement::Kind::failed: outcome = "failed"; break;
        case Settlement::Kind::released: outcome = "interrupted"; break;
    }
    options_.metrics->job_runs.at({job.type, std::string(outcome)}).add();
    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(took).count();
    options_.metrics->job_duration.at({job.type}).observe(static_cast<std::uint64_t>(us));
}

void Engine::set_in_flight(std::size_t n) {
    in_flight_ = n;
    if (options_.metrics) options_.metrics->workers_busy.store(static_cast<std::int64_t>(n), std::memory_order_relaxed);
}

asio::awaitable<Outcome> Engine::execute(const Job& job) {
    Handler* handler = handlers_.find(job.type);
    if (!handler) co_return Outcome::permanent("no handler for job type '" + job.type + "'");

    const millis timeout = execution_timeout_ms();
    // Each run on a strand of its own: handlers' TLS handshakes and message building use
    // every event-loop thread. Only the settlement comes back to the engine's strand.
    const bool own_strand = options_.event_loop_threads > 1;
    const asio::any_io_executor run_strand =
        own_strand ? asio::any_io_executor(asio::make_strand(executor_)) : asio::any_io_executor(strand_);
    JobContext context{run_strand, clock_() + timeout};
    RunDeadlines::Run run(deadlines_, std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout));

    auto guarded_run = [](Handler* h, const Job& j, JobContext& ctx, bool own_strand) -> asio::awaitable<Outcome> {
        std::exception_ptr thrown;
        try {
            // co_spawn starts the run inline, nested in the engine strand's handler, until
            // its first suspension: the handler's work before its first I/O (building the
            // message, say) would hold the engine's strand. Queued here, it starts on its
            // own strand, on whichever thread is free.
            if (own_strand) co_await asio::post(ctx.executor, asio::use_awaitable);
            co_return co_await h->run(j, ctx);
        } catch (...) {
            thrown = std::current_exception();
        }
        co_return Outcome::retryable("handler threw: " + describe(thrown));
    };
    Outcome outcome = co_await asio::co_spawn(run_strand, guarded_run(handler, job, context, own_strand),
                                              asio::bind_cancellation_slot(run.slot(), asio::use_awaitable));
    // A cancellation emitted here reaches the run through a handler posted to its strand,
    // which points into `run`: once one was emitted, let the run's strand go past it before
    // `run` is destroyed (the strand runs in order, so this post comes after it).
    if (own_strand && run.cancelled()) co_await asio::post(run_strand, asio::use_awaitable);
    // A run that succeeded as its deadline passed still succeeded; a cancelled one failed
    // because of the deadline, whatever its handler made of the cancellation.
    if (!run.cancelled() || outcome.kind == Outcome::Kind::success) co_return outcome;
    if (interrupting_) co_return Outcome::retryable("interrupted by shutdown");
    co_return Outcome::retryable("timed out after " + std::to_string(timeout) + " ms");
}

Settlement Engine::settlement_for(const Job& job, const Outcome& outcome) {
    const millis now = clock_();
    Settlement s{job.id, job.attempts, Settlement::Kind::done, now, 0, outcome.message, job.queue, job.type};
    switch (outcome.kind) {
        case Outcome::Kind::success:
            break;
        case Outcome::Kind::permanent:
            s.kind = Settlement::Kind::failed;
            break;
        case Outcome::Kind::retryable:
            if (interrupting_) {
                s.kind = Settlement::Kind::released;
            } else if (job.out_of_attempts()) {
                s.kind = Settlement::Kind::failed;
            } else {
                s.kind = Settlement::Kind::retry;
                // A peer's Retry-After is a minimum. `now` is truncated to the millisecond,
                // so one more keeps the next run from starting a fraction of one early.
                s.run_at = outcome.retry_in_ms ? now + std::max<millis>(*outcome.retry_in_ms, 0) + 1
                                               : now + retry_policy_.next_delay(job.attempts_since_retry());
            }
            break;
    }
    return s;
}

void Engine::record(Settlement settlement) {
    unrecorded_.push_back(std::move(settlement));
    if (recorder_running_) return;  // it takes this one with the next batch
    recorder_running_ = true;  // now, not when the coroutine first runs: one recorder at a time
    spawn(record_loop(), "recorder");
}

bool Engine::frees_limited_place(const std::vector<Settlement>& batch) const {
    const QueueRules* rules = options_.queue_rules;
    return rules && std::any_of(batch.begin(), batch.end(),
                                [rules](const Settlement& s) { return rules->limits_concurrency(s.queue); });
}

asio::awaitable<void> Engine::record_loop() {
    const RunningFlag running(recorder_running_);
    std::vector<Settlement> batch;
    int tries = 0;
    while (!unrecorded_.empty() || !batch.empty()) {
        // Outcomes that came in meanwhile join a batch offered again.
        std::move(unrecorded_.begin(), unrecorded_.end(), std::back_inserter(batch));
        unrecorded_.clear();
        std::exception_ptr failure;
        try {
            const auto recorded = co_await store_.settle_all(batch);
            for (std::size_t i = 0; i < batch.size(); ++i)
                if (!recorded[i])
                    log::warn("stale attempt refused", {{"job", std::to_string(batch[i].id)},
                                                        {"attempt", std::to_string(batch[i].attempt)}});
        } catch (...) {
            failure = std::current_exception();
        }
        if (!failure) {
            // A retry or a release queued its job again only now, at commit: the dispatcher
            // may have looked (and gone to sleep) while it was still processing.
            if (std::any_of(batch.begin(), batch.end(), requeues)) wake_dispatcher();
            // A job of a queue with a concurrency limit stops counting against it only now:
            // jobs of that queue, ours or external workers', may start.
            if (frees_limited_place(batch)) {
                wake_dispatcher();
                wake_lease_waiters();
            }
            batch.clear();
            tries = 0;
            continue;
        }
        // Fencing makes a batch safe to offer again: an outcome already recorded is refused.
        if (++tries >= settle_tries) {
            // The rows stay `processing`; the reaper (or recovery after a restart) requeues
            // them, so the jobs still run at least once.
            log::error("cannot record job outcomes; their leases will expire",
                       {{"jobs", std::to_string(batch.size())}, {"error", describe(failure)}});
            batch.clear();
            tries = 0;
            continue;
        }
        log::warn("cannot record job outcomes; trying again",
                  {{"jobs", std::to_string(batch.size())}, {"error", describe(failure)}});
        if (stopping_) continue;
        record_timer_.expires_after(failure_backoff);
        co_await record_timer_.async_wait(use_nothrow);
    }
}

asio::awaitable<void> Engine::stop() {
    // A bare post() would resume on the caller's executor; co_spawn really runs there.
    return asio::co_spawn(strand_, drain_and_stop(), asio::use_awaitable);
}

asio::awaitable<void> Engine::drain_and_stop() {
    stopping_ = true;
    dispatch_timer_.cancel();
    reaper_timer_.cancel();
    record_timer_.cancel();
    const auto deadline = steady_deadline(options_.shutdown_timeout_ms);

    // The dispatcher ends after its current claim. Wait for it whatever the deadline, so
    // nothing it claims finds the workers gone.
    while (dispatcher_running_.load(std::memory_order_acquire)) {
        stop_timer_.expires_at(asio::steady_timer::time_point::max());
        co_await stop_timer_.async_wait(use_nothrow);
    }
    // Drain: running jobs may finish until the deadline.
    while (in_flight_ > 0 && std::chrono::steady_clock::now() < deadline) {
        stop_timer_.expires_at(deadline);
        co_await stop_timer_.async_wait(use_nothrow);
    }
    if (in_flight_ > 0) {
        log::warn("shutdown deadline passed; requeueing running jobs", {{"jobs", std::to_string(in_flight_)}});
        interrupting_ = true;
        deadlines_.cancel_all();
    }
    ready_.close();
    deadlines_.stop();
    while (tasks_running_ > 0) {
        stop_timer_.expires_at(asio::steady_timer::time_point::max());
        co_await stop_timer_.async_wait(use_nothrow);
    }
}

}  // namespace jobq::core
