#pragma once
// What every route handler shares: the store and the engine, each seen only through the
// interfaces the API needs (never the engine itself), the metrics and the server's state.
// One per Api, alive as long as it is. Handlers run on many connections' strands at once:
// the store and the notifier are thread-safe, the rest is read-only or atomic.

#include "app/api/overview_feed.hpp"
#include "core/clock.hpp"
#include "core/external_types.hpp"
#include "core/handler_registry.hpp"
#include "core/job_notifier.hpp"
#include "core/job_reader.hpp"
#include "core/job_store.hpp"
#include "core/lease_store.hpp"
#include "core/retry_policy.hpp"
#include "core/wake_signal.hpp"
#include "core/loop_health.hpp"
#include "core/metrics.hpp"
#include "core/operator_actions.hpp"
#include "core/readiness.hpp"
#include "core/queue_rules.hpp"
#include "core/queue_settings.hpp"
#include "core/schedule_store.hpp"
#include "core/worker_registry.hpp"

#include <atomic>
#include <cstddef>
#include <functional>
#include <string>

namespace jobq::app {

struct ApiOptions {
    std::string api_token;                    // empty: no authentication
    std::string worker_token;                 // grants the lease routes (and GET /jobs/{id}) only; empty: none
    core::ExternalTypes external_types;       // job types run by workers outside jobq
    core::millis visibility_timeout_ms = 300'000;  // a lease's length unless it asks for another
    core::RetryPolicyOptions retry;                // backoff of an external job's retryable failure
    core::WakeSignal* lease_wakeups = nullptr;     // long polls for leases wait here; outlives the API
    std::size_t max_pending_writes = 10'000;  // jobs waiting for a commit before 429
    bool access_log = true;
    std::function<void()> schedules_changed;  // the scheduler looks again; empty: none runs
    // The rules leases obey: a long poll held back by a queue's rate limit wakes when it
    // gets a token. Optional; outlives the API.
    const core::QueueRules* queue_rules = nullptr;
    // The server listens on a loopback address only: a request naming another host than
    // localhost, a loopback address or one of allowed_hosts (a page whose name was rebound
    // to 127.0.0.1) is refused.
    bool loopback_only = false;
    std::vector<std::string> allowed_hosts;  // lower case
};

// The store, through the interfaces the API uses (one object may implement them all).
struct ApiStores {
    core::JobStore& jobs;            // submissions and reading one job
    core::JobReader& reader;         // listings, /stats, /metrics
    core::OperatorActions& actions;  // retry, cancel, delete
    core::LeaseStore& leases;        // external workers' leases
    core::Readiness& readiness;      // /readyz
    core::ScheduleStore& schedules;  // schedules
    core::QueueSettingsStore& queues;  // queues' settings
};

struct ApiContext {
    ApiStores stores;
    core::JobNotifier& notifier;  // told when jobs may have become runnable
    const core::LoopHealth& loops;
    const core::HandlerRegistry& handlers;
    core::Metrics* metrics;  // null: nothing is counted
    ApiOptions options;
    core::Clock clock;
    std::atomic<bool> draining{false};           // shutting down: no submissions, not ready
    std::atomic<std::size_t> pending_writes{0};  // jobs admitted and not yet committed
    core::WorkerRegistry workers;                // the external workers' names, as their lease requests give them
    OverviewFeed overview;                       // what the open GET /events share
};

}  // namespace jobq::app
