#include "core/engine.hpp"

#include "core/log.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <chrono>
#include <exception>

namespace jobq::core {

namespace asio = boost::asio;

namespace {

constexpr auto use_nothrow = asio::as_tuple(asio::use_awaitable);
// After a storage failure the dispatcher and reaper wait this long before trying again.
constexpr std::chrono::milliseconds storage_retry_delay{500};

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
      strand_(asio::make_strand(io)),
      ready_(strand_),
      dispatch_timer_(strand_),
      reaper_timer_(strand_),
      stop_timer_(strand_),
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
    asio::post(strand_, [this] {
        dispatcher_running_ = true;
        spawn(dispatch_loop(), "dispatcher");
        spawn(reaper_loop(), "reaper");
        spawn(deadlines_.enforce(), "deadlines");
        for (std::size_t i = 0; i < options_.workers; ++i) spawn(worker_loop(), "worker");
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

void Engine::wake_dispatcher() {
    wake_pending_ = true;
    dispatch_timer_.cancel();
}

asio::awaitable<void> Engine::dispatch_loop() {
    while (!stopping_) {
        wake_pending_ = false;
        const std::size_t free_workers = options_.workers - in_flight_;
        std::optional<millis> next_run_at;
        bool storage_failed = false;
        try {
            if (free_workers > 0) {
                const millis now = clock_();
                auto jobs = co_await store_.claim(free_workers, now, now + options_.visibility_timeout_ms);
                set_in_flight(in_flight_ + jobs.size());
                const bool maybe_more = jobs.size() == free_workers;
                for (auto& job : jobs) ready_.push(std::move(job));
                // Every worker is busy: the next event is a worker finishing.
                if (maybe_more) continue;
                if (!wake_pending_ && !stopping_) next_run_at = co_await store_.next_run_at();
            }
        } catch (const StorageError& e) {
            log::error("dispatcher cannot reach storage", {{"error", e.what()}});
            storage_failed = true;
        }
        if (storage_failed) {
            dispatch_timer_.expires_after(storage_retry_delay);
        } else if (wake_pending_ || stopping_) {
            continue;
        } else {
            dispatch_timer_.expires_at(next_run_at ? steady_deadline(*next_run_at - clock_())
                                                   : asio::steady_timer::time_point::max());
        }
        co_await dispatch_timer_.async_wait(use_nothrow);
    }
    dispatcher_running_ = false;
}

asio::awaitable<void> Engine::reaper_loop() {
    while (!stopping_) {
        millis wake_at;
        try {
            const auto earliest = co_await store_.next_lease_expiry();
            const millis now = clock_();
            if (earliest && *earliest <= now) {
                const auto report = co_await store_.reap_expired(now);
                if (report.requeued + report.dead_lettered > 0) {
                    log::warn("leases expired", {{"requeued", std::to_string(report.requeued)},
                                                 {"dead_lettered", std::to_string(report.dead_lettered)}});
                    wake_dispatcher();
                }
                continue;
            }
            // A lease taken from now on expires no sooner than a visibility timeout away.
            wake_at = earliest.value_or(now + options_.visibility_timeout_ms);
            reaper_timer_.expires_at(steady_deadline(wake_at - now + 1));
        } catch (const StorageError& e) {
            log::error("reaper cannot reach storage", {{"error", e.what()}});
            reaper_timer_.expires_after(storage_retry_delay);
        }
        co_await reaper_timer_.async_wait(use_nothrow);
    }
}

asio::awaitable<void> Engine::worker_loop() {
    while (auto job = co_await ready_.pop()) {
        record(co_await process(std::move(*job)));
        set_in_flight(in_flight_ - 1);
        wake_dispatcher();
        if (stopping_) stop_timer_.cancel();
    }
}

asio::awaitable<Settlement> Engine::process(Job job) {
    if (interrupting_)
        co_return Settlement{job.id, job.attempts, Settlement::Kind::released, clock_(), 0, "interrupted by shutdown"};
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
    JobContext context{strand_, clock_() + timeout};
    RunDeadlines::Run run(deadlines_, std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout));

    auto guarded_run = [](Handler* h, const Job& j, JobContext& ctx) -> asio::awaitable<Outcome> {
        try {
            co_return co_await h->run(j, ctx);
        } catch (const std::exception& e) {
            co_return Outcome::retryable(std::string("handler threw: ") + e.what());
        }
    };
    Outcome outcome = co_await asio::co_spawn(strand_, guarded_run(handler, job, context),
                                              asio::bind_cancellation_slot(run.slot(), asio::use_awaitable));
    // A run that succeeded as its deadline passed still succeeded; a cancelled one failed
    // because of the deadline, whatever its handler made of the cancellation.
    if (!run.cancelled() || outcome.kind == Outcome::Kind::success) co_return outcome;
    if (interrupting_) co_return Outcome::retryable("interrupted by shutdown");
    co_return Outcome::retryable("timed out after " + std::to_string(timeout) + " ms");
}

Settlement Engine::settlement_for(const Job& job, const Outcome& outcome) {
    const millis now = clock_();
    Settlement s{job.id, job.attempts, Settlement::Kind::done, now, 0, outcome.message};
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
                s.run_at = now + (outcome.retry_in_ms ? std::max<millis>(*outcome.retry_in_ms, 0)
                                                      : retry_policy_.next_delay(job.attempts));
            }
            break;
    }
    return s;
}

void Engine::record(Settlement settlement) {
    unrecorded_.push_back(std::move(settlement));
    if (recorder_running_) return;  // it takes this one with the next batch
    recorder_running_ = true;
    spawn(record_loop(), "recorder");
}

asio::awaitable<void> Engine::record_loop() {
    while (!unrecorded_.empty()) {
        std::vector<Settlement> batch;
        batch.swap(unrecorded_);
        try {
            const auto recorded = co_await store_.settle_all(batch);
            for (std::size_t i = 0; i < batch.size(); ++i)
                if (!recorded[i])
                    log::warn("stale attempt refused", {{"job", std::to_string(batch[i].id)},
                                                        {"attempt", std::to_string(batch[i].attempt)}});
        } catch (const StorageError& e) {
            // The rows stay `processing`; the reaper (or recovery after a restart) requeues
            // them, so the jobs still run at least once.
            log::error("cannot record job outcomes", {{"jobs", std::to_string(batch.size())}, {"error", e.what()}});
        }
    }
    recorder_running_ = false;
}

asio::awaitable<void> Engine::stop() {
    // A bare post() would resume on the caller's executor; co_spawn really runs there.
    return asio::co_spawn(strand_, drain_and_stop(), asio::use_awaitable);
}

asio::awaitable<void> Engine::drain_and_stop() {
    stopping_ = true;
    dispatch_timer_.cancel();
    reaper_timer_.cancel();
    const auto deadline = steady_deadline(options_.shutdown_timeout_ms);

    // The dispatcher ends after its current claim. Wait for it whatever the deadline, so
    // nothing it claims finds the workers gone.
    while (dispatcher_running_) {
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
