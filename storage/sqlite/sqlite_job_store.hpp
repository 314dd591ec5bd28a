#pragma once
// core::JobStore and core::JobAdmin on SQLite. Owns the DB thread and the read-write
// connection, through which every write goes by group commit (and the engine's wake-up
// reads); the read-only connections the API's reads go to (ReadPool); and the kept counts
// (KeptCounts). Thread-safe: any
// thread may await any member. The operator's members are in sqlite_job_admin.cpp.

#include "core/job_admin.hpp"
#include "core/job_store.hpp"
#include "core/lease_store.hpp"
#include "core/queue_rules.hpp"
#include "core/queue_settings.hpp"
#include "core/schedule_store.hpp"
#include "storage/sqlite/db_executor.hpp"
#include "storage/sqlite/group_commit.hpp"
#include "storage/sqlite/kept_counts.hpp"
#include "storage/sqlite/read_pool.hpp"
#include "storage/sqlite/sqlite.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <functional>
#include <memory>
#include <string>
#include <thread>

namespace jobq::storage {

struct StoreOptions {
    std::string path;
    Synchronous sync = Synchronous::full;
    core::Metrics* metrics = nullptr;  // optional; outlives the store
    std::int64_t max_bytes = 0;        // the database file may not grow past this (0: no limit)
    std::size_t readers = 2;           // read-only connections, each on a thread of its own
};

class SqliteJobStore final : public core::JobStore,
                             public core::JobAdmin,
                             public core::LeaseStore,
                             public core::ScheduleStore,
                             public core::QueueSettingsStore {
public:
    // Opens and migrates the database on the DB thread; throws StorageError on failure.
    explicit SqliteJobStore(StoreOptions options);
    ~SqliteJobStore() override;

    boost::asio::awaitable<core::EnqueueResult> enqueue(core::JobSpec spec) override;
    boost::asio::awaitable<std::optional<core::Job>> get(core::job_id id) override;
    boost::asio::awaitable<std::vector<core::Job>> claim(core::ClaimRequest request) override;
    boost::asio::awaitable<core::Result<void>> settle(core::Settlement settlement) override;
    boost::asio::awaitable<std::vector<bool>> settle_all(std::vector<core::Settlement> settlements) override;
    boost::asio::awaitable<std::optional<core::millis>> next_run_at() override;
    boost::asio::awaitable<std::optional<core::millis>> next_lease_expiry() override;
    boost::asio::awaitable<core::RecoveryReport> reap_expired(core::millis now) override;
    boost::asio::awaitable<core::RecoveryReport> recover(core::millis now) override;

    boost::asio::awaitable<std::vector<core::EnqueueResult>> enqueue_batch(std::vector<core::JobSpec> specs) override;
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

    // core::LeaseStore, in sqlite_lease_store.cpp.
    boost::asio::awaitable<std::vector<core::LeasedJob>> lease(core::LeaseRequest request) override;
    boost::asio::awaitable<core::Result<core::Job>> settle_lease(core::LeaseSettlement settlement) override;
    boost::asio::awaitable<std::vector<core::Result<void>>> settle_leases(
        std::vector<core::LeaseSettlement> settlements) override;
    boost::asio::awaitable<core::Result<core::millis>> extend_lease(core::job_id id, std::string token,
                                                                    core::millis lease_until) override;

    // core::ScheduleStore, in sqlite_schedule_store.cpp.
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

    // core::QueueSettingsStore, in sqlite_queue_store.cpp.
    boost::asio::awaitable<core::QueueSettings> update_queue(std::string queue, core::QueueSettingsPatch patch) override;
    core::QueueSettingsMap queue_settings() const override;
    boost::asio::awaitable<std::map<std::string, core::millis>> oldest_runnable_by_queue(
        core::millis now, std::optional<std::string> only) override;
    // The rules claims and leases obey (the settings in memory): any thread.
    const core::QueueRules& queue_rules() const { return *rules_; }

    // Folds the WAL into the database file (at shutdown). Blocking: not on the io_context.
    void checkpoint();

    GroupCommitStats commit_stats();  // blocking
    std::thread::id db_thread_id() const { return executor_.thread_id(); }

    // Runs fn(db) on the DB thread outside any batch (a read). For the store's own
    // members and for tests.
    //
    // The store's awaitable members are plain functions that build the operation and
    // return co_spawn's awaitable: GCC 12 miscompiles lambdas with non-trivial captures
    // created inside a coroutine body (their strings are relocated bitwise).
    template <class R>
    boost::asio::awaitable<R> on_db_thread(std::function<R(Database&)> fn) {
        return boost::asio::co_spawn(executor_.executor(), run_now<R>(*db_, std::move(fn)), boost::asio::use_awaitable);
    }

private:
    void close() noexcept;

    template <class R>
    static boost::asio::awaitable<R> run_now(Database& db, std::function<R(Database&)> fn) {
        co_return fn(db);
    }

    // Runs fn(db, changes) inside the next group-commit transaction; completes after
    // COMMIT. fn notes in `changes` every job it stores, moves to another state or deletes.
    template <class R>
    boost::asio::awaitable<R> in_transaction(std::function<R(Database&, core::JobChanges&)> fn,
                                             Durability durability = Durability::durable) {
        return group_->run<R>(
            [fn = std::move(fn), changes = &kept_->changes()](Database& db) { return fn(db, *changes); }, durability);
    }

    // Runs fn(db) on a read-only connection.
    template <class R>
    boost::asio::awaitable<R> read(std::function<R(Database&)> fn) {
        return readers_->run<R>(std::move(fn));
    }

    template <class R>
    R blocking(std::function<R(Database&)> fn);

    static core::QueueSettingsMap load_queue_settings(Database& db);
    boost::asio::awaitable<core::QueueSettings> write_queue_settings(std::string queue, core::QueueSettingsPatch patch);
    // The rules as stored, after a transaction that changed them failed.
    boost::asio::awaitable<int> reload_queue_rules();
    // From the kept counts: where the oldest runnable job may be.
    std::vector<std::string> queues_with_queued_jobs() const;

    DbExecutor executor_;  // declared first: destroyed last, after the connection
    std::unique_ptr<Database> db_;
    std::unique_ptr<KeptCounts> kept_;
    std::unique_ptr<core::QueueRules> rules_;  // loaded with the database; changed on the DB thread
    std::unique_ptr<GroupCommit> group_;
    std::unique_ptr<ReadPool> readers_;
};

}  // namespace jobq::storage
