#pragma once
// core::JobStore and core::JobAdmin on PostgreSQL, for one node among possibly
// many that share the database. Every write goes through group commit
// (GroupCommit) on a pooled connection; reads go to the pool directly. Claims
// take jobs with FOR UPDATE SKIP LOCKED, so nodes claiming at once never take
// the same job nor wait for one another. The counts are summed over every
// node's rows and read back at each commit. Thread-safe: any thread may await
// any member. The operator's members are in pg_job_admin.cpp.

#include "core/job_admin.hpp"
#include "core/job_counts.hpp"
#include "core/job_history.hpp"
#include "core/job_store.hpp"
#include "core/lease_store.hpp"
#include "core/metrics.hpp"
#include "core/queue_rules.hpp"
#include "core/queue_settings.hpp"
#include "core/schedule_store.hpp"
#include "storage/postgres/group_commit.hpp"
#include "storage/postgres/pool.hpp"
#include "storage/postgres/shared_counts.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <atomic>
#include <chrono>
#include <limits>
#include <memory>
#include <string>

namespace jobq::storage::pg {

// A rate-limited queue's bucket as a claim found it stored (`at` 0: none yet).
struct StoredBucket {
    std::string queue;
    core::millis at = 0;
};

// Nodes found dead, and what became of the jobs they were running.
struct DeadNodes {
    std::vector<std::string> nodes;
    core::RecoveryReport jobs;
};

// The stored queue settings (pg_queue_store.cpp): the statement, and its rows.
Statement queue_settings_statement();
core::QueueSettingsMap read_queue_settings(const Result& result);

// The order claims and leases hand jobs out in: priority (highest first), run_at, id.
bool claim_order(const core::Job& a, const core::Job& b);

struct PgStoreOptions {
    std::string conninfo;  // postgresql://... or key=value, as libpq reads it
    // Whether a commit waits for its WAL flush (--sync full); off maps --sync
    // normal.
    bool synchronous_commit = true;
    // This node's name: its rows of the counts, and the built-in leases it holds.
    std::string node = "jobq";
    std::size_t connections = 4;
    std::chrono::milliseconds statement_timeout{30'000};
    core::Metrics* metrics = nullptr;  // optional; outlives the store
};

class PgJobStore final : public core::JobStore,
                         public core::JobAdmin,
                         public core::LeaseStore,
                         public core::ScheduleStore,
                         public core::QueueSettingsStore {
public:
    // Connects, migrates the schema and loads the counts and queue settings.
    // Throws core::StorageError (ConnectionError when the server cannot be
    // reached).
    static boost::asio::awaitable<std::unique_ptr<PgJobStore>> open(boost::asio::any_io_executor executor,
                                                                    PgStoreOptions options);
    ~PgJobStore() override;

    // core::JobStore
    boost::asio::awaitable<core::EnqueueResult> enqueue(core::JobSpec spec) override;
    boost::asio::awaitable<std::vector<core::EnqueueResult>> enqueue_batch(std::vector<core::JobSpec> specs) override;
    boost::asio::awaitable<std::optional<core::Job>> get(core::job_id id) override;
    boost::asio::awaitable<std::vector<core::Job>> claim(core::ClaimRequest request) override;
    boost::asio::awaitable<core::Result<void>> settle(core::Settlement settlement) override;
    boost::asio::awaitable<std::vector<bool>> settle_all(std::vector<core::Settlement> settlements) override;
    boost::asio::awaitable<std::optional<core::millis>> next_run_at() override;
    boost::asio::awaitable<std::optional<core::millis>> next_lease_expiry() override;
    boost::asio::awaitable<core::RecoveryReport> reap_expired(core::millis now) override;
    boost::asio::awaitable<core::RecoveryReport> recover(core::millis now) override;

    // core::JobAdmin, in pg_job_admin.cpp.
    boost::asio::awaitable<core::JobPage> list(core::JobFilter filter, std::optional<core::job_id> after,
                                               std::size_t limit) override;
    boost::asio::awaitable<core::JobChange> retry(core::job_id id, core::millis now) override;
    boost::asio::awaitable<core::JobChange> cancel(core::job_id id, core::millis now) override;
    boost::asio::awaitable<core::JobChange> remove(core::job_id id) override;
    boost::asio::awaitable<core::BulkStep> retry_failed(std::string queue, core::millis now, core::job_id after,
                                                        std::optional<core::job_id> up_to) override;
    boost::asio::awaitable<core::BulkStep> purge(std::string queue, core::JobState state, core::job_id after,
                                                 std::optional<core::job_id> up_to) override;
    std::vector<core::JobCount> counts() const override;
    core::HistoryWindow history(std::size_t seconds, std::int64_t now_second) const override;
    boost::asio::awaitable<std::optional<core::millis>> oldest_runnable(core::millis now) override;
    boost::asio::awaitable<std::optional<std::vector<core::JobAttempt>>> attempts(core::job_id id) override;
    boost::asio::awaitable<std::vector<core::WorkerLeases>> leases_by_worker() override;
    boost::asio::awaitable<std::size_t> delete_expired(std::optional<core::millis> finished_before,
                                                       std::optional<core::millis> failed_before,
                                                       std::size_t limit) override;
    boost::asio::awaitable<bool> writable() override;

    // core::LeaseStore, in pg_lease_store.cpp.
    boost::asio::awaitable<std::vector<core::LeasedJob>> lease(core::LeaseRequest request) override;
    boost::asio::awaitable<core::Result<core::Job>> settle_lease(core::LeaseSettlement settlement) override;
    boost::asio::awaitable<std::vector<core::Result<void>>> settle_leases(
        std::vector<core::LeaseSettlement> settlements) override;
    boost::asio::awaitable<core::Result<core::millis>> extend_lease(core::job_id id, std::string token,
                                                                    core::millis lease_until) override;

    // core::ScheduleStore, in pg_schedule_store.cpp.
    boost::asio::awaitable<bool> put_schedule(core::Schedule schedule) override;
    boost::asio::awaitable<std::optional<core::Schedule>> get_schedule(std::string name) override;
    boost::asio::awaitable<std::vector<core::Schedule>> list_schedules() override;
    boost::asio::awaitable<bool> delete_schedule(std::string name) override;
    boost::asio::awaitable<core::ScheduleSummary> summarize_schedules() override;
    boost::asio::awaitable<std::optional<core::FiredTicks>> fire_schedule(std::string name, std::int64_t revision,
                                                                          core::millis expected,
                                                                          std::vector<core::millis> ticks,
                                                                          std::optional<core::millis> next_run_at,
                                                                          core::millis now) override;

    // core::QueueSettingsStore, in pg_queue_store.cpp.
    boost::asio::awaitable<core::QueueSettings> update_queue(std::string queue,
                                                             core::QueueSettingsPatch patch) override;
    core::QueueSettingsMap queue_settings() const override;
    boost::asio::awaitable<std::map<std::string, core::millis>> oldest_runnable_by_queue(
        core::millis now, std::optional<std::string> only) override;
    // Brings the rules in memory in line with the stored settings (another node's changes).
    boost::asio::awaitable<void> reload_queue_rules();

    // For the node's link to the others (node_link.hpp). The built-in leases of nodes that
    // died (their heartbeats stopped), given up as lost leases are, and the nodes
    // forgotten; durable.
    // Of the `candidates`, those really gone: silent for `silent_ms` by the database's clock
    // and their name held by no session (a live node holds its own for as long as its link
    // lives, whatever its heartbeat).
    boost::asio::awaitable<DeadNodes> requeue_leases_of(std::vector<std::string> candidates, std::int64_t silent_ms,
                                                        core::millis now);
    // Reads every node's counts again (the other nodes' changes).
    boost::asio::awaitable<void> refresh_counts();

    // The rules claims obey (the queue settings in memory): any thread.
    const core::QueueRules& queue_rules() const { return *rules_; }
    const std::string& node() const { return options_.node; }
    ConnectionPool& pool() { return *pool_; }

private:
    PgJobStore(boost::asio::any_io_executor executor, PgStoreOptions options);
    boost::asio::awaitable<void> start();

    // Runs `op` in the next group-commit transaction.
    template <class R>
    boost::asio::awaitable<R> in_transaction(std::function<boost::asio::awaitable<R>(Transaction&)> op,
                                             Durability durability = Durability::durable) {
        return group_->run<R>(std::move(op), durability);
    }
    // One batch of statements on a pooled connection, outside any transaction of
    // ours.
    boost::asio::awaitable<std::vector<Result>> read(std::vector<Statement> statements);
    std::chrono::milliseconds round_trip_timeout() const;

    boost::asio::awaitable<std::vector<core::Job>> claim_in(Transaction& tx, core::ClaimRequest request);
    // Locks the queues among `loads` with a limit (in name order: no two nodes wait for each
    // other), for the rest of the transaction, and brings the rate-limited ones' buckets
    // in from the database (every node's); answers those.
    boost::asio::awaitable<std::vector<StoredBucket>> lock_limited(Transaction& tx,
                                                                   const std::vector<core::QueueLoad>& loads);
    // Writes what the claim left in the buckets back, for every node.
    boost::asio::awaitable<void> store_buckets(Transaction& tx, std::vector<StoredBucket> buckets);
    // Of n jobs a claim or lease may take from `queue`, as many as its concurrency limit
    // leaves room for, counted over every node's running jobs.
    boost::asio::awaitable<std::size_t> room_in(Transaction& tx, std::string queue, std::size_t n);
    // Up to n of one queue's runnable built-in jobs, claimed, in claim order.
    boost::asio::awaitable<std::vector<core::Job>> claim_from(Transaction& tx, std::string queue, std::size_t n,
                                                              core::millis now, core::millis lease_until,
                                                              std::optional<std::string> types);
    boost::asio::awaitable<core::QueueSettings> change_queue(std::string queue, core::QueueSettingsPatch patch);
    boost::asio::awaitable<core::QueueSettings> write_queue_settings(Transaction& tx, std::string queue,
                                                                     core::QueueSettingsPatch patch);
    // From the kept counts: where a queue's oldest runnable job may be.
    std::vector<std::string> queues_with_queued_jobs() const;
    boost::asio::awaitable<std::vector<core::LeasedJob>> lease_in(Transaction& tx, core::LeaseRequest request);
    // Up to n of one queue's leasable external jobs, leased, in claim order, while the
    // request's payload (`payload_bytes` so far) stays under its limit.
    boost::asio::awaitable<std::vector<core::LeasedJob>> lease_from(Transaction& tx, std::string queue, std::size_t n,
                                                                    const core::LeaseRequest& request,
                                                                    std::optional<std::string> types,
                                                                    std::int64_t& payload_bytes);
    boost::asio::awaitable<core::Result<core::Job>> settle_leased(Transaction& tx, core::LeaseSettlement settlement);
    boost::asio::awaitable<std::vector<core::Result<void>>> settle_each(Transaction& tx,
                                                                        std::vector<core::LeaseSettlement> settlements);
    boost::asio::awaitable<std::vector<bool>> settle_in(Transaction& tx, std::vector<core::Settlement> settlements);
    // Expired leases, and every built-in lease the `nodes` held.
    boost::asio::awaitable<core::RecoveryReport> settle_lost(Transaction& tx, core::millis now,
                                                             std::vector<std::string> nodes, std::string reason);
    boost::asio::awaitable<DeadNodes> give_up_nodes(Transaction& tx, std::vector<std::string> candidates,
                                                    std::int64_t silent_ms, core::millis now);

    PgStoreOptions options_;
    std::unique_ptr<ConnectionPool> pool_;
    SharedCounts counts_;
    core::JobHistory history_;
    std::unique_ptr<core::QueueRules> rules_;
    std::unique_ptr<GroupCommit> group_;
};

}  // namespace jobq::storage::pg
