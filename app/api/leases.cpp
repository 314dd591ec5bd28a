// The lease protocol: external workers lease jobs of external types (POST /leases, with
// long polling), then settle each with its lease's token (ack, fail, release, extend, or
// many at once through /leases/settle). A token that is not the job's current lease is a
// 409 lease_lost and changes nothing.

#include "app/api/routes.hpp"
#include "app/api/toolkit.hpp"
#include "app/job_json.hpp"
#include "app/json_text.hpp"
#include "app/lease_json.hpp"
#include "core/retry_policy.hpp"

#include <algorithm>
#include <chrono>
#include <memory>

namespace jobq::app {

namespace asio = boost::asio;

namespace {

core::LeaseRequest lease_request(const ApiContext& ctx, const LeaseAsk& ask) {
    const core::millis now = ctx.clock();
    return {ask.max, now, now + ask.lease_ms.value_or(ctx.options.visibility_timeout_ms), ask.types, ask.queues,
            ask.worker};
}

std::string leased_json(const std::vector<core::LeasedJob>& leased) {
    std::string body = R"({"jobs":[)";
    for (std::size_t i = 0; i < leased.size(); ++i) {
        if (i) body += ',';
        append_leased_job_json(body, leased[i]);
    }
    body += "]}";
    return body;
}

asio::awaitable<void> give_back(ApiContext& ctx, const std::vector<core::LeasedJob>& leased);

// When a queue held back by its rate limit gets its next token (a long poll looks again
// then: no wake-up says so); max() when none is held back.
std::chrono::steady_clock::time_point token_due(const ApiContext& ctx) {
    const core::QueueRules* rules = ctx.options.queue_rules;
    const auto at = rules ? rules->next_token_at(core::QueueRules::Claimer::external) : std::nullopt;
    if (!at) return std::chrono::steady_clock::time_point::max();
    return std::chrono::steady_clock::now() + std::chrono::milliseconds(std::max<core::millis>(0, *at - ctx.clock()));
}

// Leases what there is; with wait_ms and nothing to lease, waits for a wake-up (an
// enqueue, a job coming due, a lease expiring) and looks again, until the deadline or
// shutdown. Never polls.
asio::awaitable<Answer> lease_jobs(ApiContext& ctx, RouteRequest request) {
    const auto ask = parse_lease_ask(request.http.body, ctx.options.external_types);
    if (!ask) co_return ask.error();
    if (ask->worker) ctx.workers.seen(*ask->worker, ctx.clock());
    core::WakeSignal* wakeups = ctx.options.lease_wakeups;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ask->wait_ms);
    for (bool first = true;; first = false) {
        const auto seen = wakeups ? wakeups->generation() : 0;
        // A client that gave up waiting would never get what it leased: the jobs would
        // wait out their leases, and lose an attempt.
        if (!first && request.http.client_gone()) co_return json_response(200, leased_json({}));
        auto leased = co_await ctx.stores.leases.lease(lease_request(ctx, *ask));
        // Gone while its jobs were being leased: they go back, their attempts not counted
        // (a client that leaves after this look is the lease's expiry to handle).
        if (!leased.empty() && request.http.client_gone()) {
            co_await give_back(ctx, leased);
            co_return json_response(200, leased_json({}));
        }
        if (!leased.empty()) ctx.notifier.notify_leased();
        // As many as asked for: more may wait, for other long polls.
        if (leased.size() == ask->max) wake_lease_waiters(ctx);
        const bool give_up = ask->wait_ms == 0 || !wakeups || ctx.draining || wakeups->closed() ||
                             std::chrono::steady_clock::now() >= deadline;
        if (!leased.empty() || give_up) co_return json_response(200, leased_json(leased));
        co_await wakeups->wait(seen, std::min(deadline, token_due(ctx)));
    }
}

// The settlement an ending makes of the job as stored (inside its transaction).
core::Settlement decide(const LeaseEnd& end, core::millis now, const core::RetryPolicyOptions& retry,
                        const core::Job& job) {
    using Kind = core::Settlement::Kind;
    core::Settlement s;
    s.at = now;
    switch (end.kind) {
        case LeaseEnd::Kind::ack:
            s.kind = Kind::done;
            s.result = end.result;
            break;
        case LeaseEnd::Kind::fail:
            s.error = end.error;
            if (!end.retryable || job.out_of_attempts()) {
                s.kind = Kind::failed;
            } else {
                s.kind = Kind::retry;
                // Seeded by the job: the jitter spreads jobs, it need not be secret.
                core::RetryPolicy policy(retry, static_cast<std::uint64_t>(job.id) * 31 + job.attempts);
                s.run_at = now + end.retry_in_ms.value_or(policy.next_delay(job.attempts_since_retry()));
            }
            break;
        case LeaseEnd::Kind::release:
            s.kind = Kind::released;
            s.run_at = now + end.delay_ms;
            break;
        case LeaseEnd::Kind::extend: break;  // not a settlement
    }
    return s;
}

// What each settlement of a request decided, noted by its decision for the metrics: an
// external worker's run counts in jobq_job_runs_total and jobq_job_duration_seconds like
// a built-in one.
struct EndedRun {
    std::string type;
    std::string queue;
    core::Settlement::Kind kind = core::Settlement::Kind::done;
    core::millis took = 0;  // from the lease to the settlement
};
using EndedRuns = std::shared_ptr<std::vector<EndedRun>>;

// A job of this queue that stopped processing lets another start: the queue has a
// concurrency limit, which jobs waiting on it wait for.
bool frees_limited_place(const ApiContext& ctx, const std::string& queue) {
    return ctx.options.queue_rules && ctx.options.queue_rules->limits_concurrency(queue);
}

// Called for a settlement that was applied: one refused (lease_lost) counts nothing.
void record_ended_run(const ApiContext& ctx, const EndedRun& run) {
    if (!ctx.metrics) return;
    using Kind = core::Settlement::Kind;
    std::string outcome = "interrupted";
    if (run.kind == Kind::done) outcome = "succeeded";
    else if (run.kind == Kind::retry) outcome = "retried";
    else if (run.kind == Kind::failed) outcome = "failed";
    ctx.metrics->job_runs.at({run.type, outcome}).add();
    const auto took_us = static_cast<std::uint64_t>(std::max<core::millis>(run.took, 0)) * 1000;
    ctx.metrics->job_duration.at({run.type}).observe(took_us);
}

// How each ending is applied; the decision notes what it decided in (*ended)[index].
core::LeaseDecision decision(const ApiContext& ctx, const LeaseEnd& end, const EndedRuns& ended, std::size_t index) {
    const core::millis now = ctx.clock();
    const core::RetryPolicyOptions retry = ctx.options.retry;
    return [end, now, retry, ended, index](const core::Job& job) {
        core::Settlement s = decide(end, now, retry, job);
        (*ended)[index] = {job.type, job.queue, s.kind, now - job.started_at.value_or(now)};
        return s;
    };
}

// The store's operation for one ending, built outside any coroutine: GCC 12 relocates
// temporaries holding a std::function bitwise when a coroutine body builds them, and both
// copies then free its target.
asio::awaitable<core::Result<core::Job>> settle_one(ApiContext& ctx, core::job_id id, const LeaseEnd& end,
                                                    const EndedRuns& ended) {
    return ctx.stores.leases.settle_lease({id, end.token, decision(ctx, end, ended, 0)});
}

asio::awaitable<std::vector<core::Result<void>>> settle_all(ApiContext& ctx, const std::vector<LeaseEnd>& ends,
                                                            const EndedRuns& ended) {
    std::vector<core::LeaseSettlement> settlements;
    settlements.reserve(ends.size());
    for (std::size_t i = 0; i < ends.size(); ++i)
        settlements.push_back({ends[i].id, ends[i].token, decision(ctx, ends[i], ended, i)});
    return ctx.stores.leases.settle_leases(std::move(settlements));
}

// Releases jobs just leased that nobody will receive, and wakes whoever may take them.
asio::awaitable<void> give_back(ApiContext& ctx, const std::vector<core::LeasedJob>& leased) {
    std::vector<LeaseEnd> ends;
    for (const auto& lease : leased) {
        LeaseEnd end;
        end.kind = LeaseEnd::Kind::release;
        end.id = lease.job.id;
        end.token = lease.token;
        ends.push_back(std::move(end));
    }
    const auto unrecorded = std::make_shared<std::vector<EndedRun>>(ends.size());  // no run happened
    co_await settle_all(ctx, ends, unrecorded);
    wake_lease_waiters(ctx);
    ctx.notifier.notify_enqueued();
}

asio::awaitable<Answer> end_lease(ApiContext& ctx, RouteRequest request, LeaseEnd::Kind kind) {
    const auto id = job_id_of(request);
    if (!id) co_return id.error();
    auto end = parse_lease_end(request.http.body, kind);
    if (!end) co_return end.error();
    if (kind == LeaseEnd::Kind::extend) {
        const auto until = co_await ctx.stores.leases.extend_lease(*id, end->token, ctx.clock() + end->lease_ms);
        if (!until) co_return Answer{until.error(), *id};
        ctx.notifier.notify_leased();  // a shorter lease_ms moves the expiry sooner
        std::string body;
        JsonObjectWriter(body).time_or_null("expires_at", *until).close();
        co_return Answer{json_response(200, std::move(body)), *id};
    }
    const auto ended = std::make_shared<std::vector<EndedRun>>(1);
    const auto job = co_await settle_one(ctx, *id, *end, ended);
    if (!job) co_return Answer{job.error(), *id};
    record_ended_run(ctx, ended->front());
    // Leasable again (now or after its delay), or a place freed in a queue with a
    // concurrency limit.
    if (job->state == core::JobState::queued || frees_limited_place(ctx, job->queue)) {
        wake_lease_waiters(ctx);
        ctx.notifier.notify_enqueued();  // the dispatcher's timer covers a delayed one
    }
    co_return Answer{json_response(200, job_to_json(*job)), *id};
}

asio::awaitable<Answer> ack(ApiContext& ctx, RouteRequest r) { return end_lease(ctx, r, LeaseEnd::Kind::ack); }
asio::awaitable<Answer> fail(ApiContext& ctx, RouteRequest r) { return end_lease(ctx, r, LeaseEnd::Kind::fail); }
asio::awaitable<Answer> release(ApiContext& ctx, RouteRequest r) { return end_lease(ctx, r, LeaseEnd::Kind::release); }
asio::awaitable<Answer> extend(ApiContext& ctx, RouteRequest r) { return end_lease(ctx, r, LeaseEnd::Kind::extend); }

asio::awaitable<Answer> settle_many(ApiContext& ctx, RouteRequest request) {
    auto ends = parse_lease_settle(request.http.body);
    if (!ends) co_return ends.error();
    const auto ended = std::make_shared<std::vector<EndedRun>>(ends->size());
    const auto results = co_await settle_all(ctx, *ends, ended);
    std::string body = R"({"results":[)";
    bool requeued = false;
    for (std::size_t i = 0; i < results.size(); ++i) {
        if (i) body += ',';
        std::string entry;
        JsonObjectWriter(entry)
            .integer("id", (*ends)[i].id)
            .string("status", results[i] ? "ok" : "lease_lost")  // no such job holds that lease either
            .close();
        body += entry;
        if (!results[i]) continue;
        record_ended_run(ctx, (*ended)[i]);
        const auto kind = (*ended)[i].kind;
        requeued |= kind == core::Settlement::Kind::retry || kind == core::Settlement::Kind::released ||
                    frees_limited_place(ctx, (*ended)[i].queue);
    }
    body += "]}";
    if (requeued) {
        wake_lease_waiters(ctx);
        ctx.notifier.notify_enqueued();
    }
    co_return json_response(200, std::move(body));
}

}  // namespace

void add_lease_routes(RouteTable& table) {
    table.add({.method = "POST", .pattern = "/leases", .handler = lease_jobs, .grant = Grant::lease});
    table.add({.method = "POST", .pattern = "/leases/settle", .handler = settle_many, .grant = Grant::lease});
    table.add({.method = "POST", .pattern = "/jobs/{id}/ack", .handler = ack, .grant = Grant::lease});
    table.add({.method = "POST", .pattern = "/jobs/{id}/fail", .handler = fail, .grant = Grant::lease});
    table.add({.method = "POST", .pattern = "/jobs/{id}/extend", .handler = extend, .grant = Grant::lease});
    table.add({.method = "POST", .pattern = "/jobs/{id}/release", .handler = release, .grant = Grant::lease});
}

}  // namespace jobq::app
