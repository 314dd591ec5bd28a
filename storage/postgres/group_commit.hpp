#pragma once
// Group commit on PostgreSQL: writes submitted from any thread queue up, and
// one writer applies whatever is pending in one transaction on one connection,
// so one WAL flush serves all of them; then completes each on its caller's
// executor. The enqueues of a batch go as one multi-row INSERT (arrays
// unnested), whatever their number.
//
// Before COMMIT, in the same round trip, the batch's changes to the counts are
// added to this node's rows of job_counts (core::JobChanges, noted by each
// operation); after it, the counts of every node are read back: the kept counts
// (core::JobCounts) then equal the stored ones, this node's writes and the
// others' alike.
//
// When the transaction fails, every operation in it fails with the same error;
// when the connection is lost during COMMIT, the outcome is unknown, and every
// operation fails: nothing is acknowledged that may not have been stored.

#include "core/durability.hpp"
#include "core/job.hpp"
#include "core/job_changes.hpp"
#include "core/job_counts.hpp"
#include "core/job_history.hpp"
#include "core/job_store.hpp"
#include "core/metrics.hpp"
#include "storage/postgres/pool.hpp"
#include "storage/postgres/shared_counts.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <chrono>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace jobq::storage::pg {

using core::Durability;

// The transaction a batch runs in, as its operations see it.
class Transaction {
public:
    Transaction(Connection& connection, bool relaxed, std::chrono::milliseconds timeout)
        : connection_(connection), relaxed_(relaxed), timeout_(timeout) {}

    // Runs the statements inside the transaction, in one round trip (BEGIN goes
    // with the first ones).
    boost::asio::awaitable<std::vector<Result>> run(std::vector<Statement> statements);

    // What the batch did to the jobs: every operation notes each job it stores,
    // moves or deletes.
    core::JobChanges& changes() { return changes_; }

    // Tells the other nodes, at commit, that `what` changed (queues, schedules); jobs that
    // became queued tell them "jobs" by themselves.
    void notify(std::string what) { notices_.push_back(std::move(what)); }

    // Ends it: the counts' changes, COMMIT, and the counts read back, in one
    // round trip.
    boost::asio::awaitable<std::vector<core::JobCount>> commit(const std::string& node);

private:
    Connection& connection_;
    bool relaxed_;  // only redoable operations: no wait for the WAL flush
    std::chrono::milliseconds timeout_;
    bool begun_ = false;
    core::JobChanges changes_;
    std::vector<std::string> notices_;
};

// The channel every node listens on (LISTEN), one per schema, and what is said on it.
inline constexpr const char* channel_sql = "'jobq_' || substr(md5(current_schema()), 1, 16)";
inline constexpr const char* notice_jobs = "jobs";            // jobs may have become runnable
inline constexpr const char* notice_queues = "queues";        // a queue's settings changed
inline constexpr const char* notice_schedules = "schedules";  // a schedule was put or deleted

// Every job count, summed over the nodes' rows: one statement.
Statement read_counts_statement();
std::vector<core::JobCount> read_counts(const Result& result);

class GroupCommit {
public:
    // `counts` and `history` are kept in step with each commit; they outlive
    // this.
    // `metrics` (optional) gets each transaction's size and duration, as on SQLite.
    GroupCommit(ConnectionPool& pool, std::string node, SharedCounts& counts, core::JobHistory& history,
                core::Metrics* metrics,
                std::chrono::milliseconds statement_timeout);
    ~GroupCommit();

    // `op` runs inside the next batch's transaction; R must be
    // default-constructible. Not a coroutine: it returns the awaitable of an
    // asynchronous operation (GCC 12 miscompiles lambdas with captures built
    // inside coroutine bodies).
    template <class R>
    boost::asio::awaitable<R> run(std::function<boost::asio::awaitable<R>(Transaction&)> op,
                                  Durability durability = Durability::durable) {
        return boost::asio::async_initiate<const boost::asio::use_awaitable_t<>&, void(std::exception_ptr, R)>(
            Initiation<R>{this, durability}, boost::asio::use_awaitable, std::move(op));
    }

    // Stores the jobs, all of the batch's in one statement; results in the order
    // of `specs`.
    boost::asio::awaitable<std::vector<core::EnqueueResult>> enqueue(std::vector<core::JobSpec> specs);

private:
    struct Operation {
        Operation(boost::asio::any_io_executor caller, Durability d) : executor(std::move(caller)), durability(d) {}
        virtual ~Operation() = default;
        virtual boost::asio::awaitable<void> apply(Transaction& tx) = 0;
        virtual void complete(std::exception_ptr error) = 0;  // on `executor`
        // The specs of an enqueue (merged with the batch's others), or null.
        virtual std::vector<core::JobSpec>* enqueued() { return nullptr; }
        virtual void enqueue_results(std::vector<core::EnqueueResult>) {}
        boost::asio::any_io_executor executor;
        Durability durability;
    };
    using Pending = std::unique_ptr<Operation>;

    template <class R, class Handler>
    struct TypedOperation : Operation {
        TypedOperation(Handler&& h, std::function<boost::asio::awaitable<R>(Transaction&)> f, Durability d)
            : Operation(boost::asio::get_associated_executor(h), d),
              handler(std::move(h)),
              work(boost::asio::get_associated_executor(handler)),
              op(std::move(f)) {}
        boost::asio::awaitable<void> apply(Transaction& tx) override { result = co_await op(tx); }
        void complete(std::exception_ptr error) override {
            work.reset();
            std::move(handler)(error, std::move(result));
        }
        Handler handler;
        boost::asio::executor_work_guard<boost::asio::associated_executor_t<Handler>> work;
        std::function<boost::asio::awaitable<R>(Transaction&)> op;
        R result{};
    };

    template <class Handler>
    struct EnqueueOperation final : TypedOperation<std::vector<core::EnqueueResult>, Handler> {
        EnqueueOperation(Handler&& h, std::vector<core::JobSpec> s)
            : TypedOperation<std::vector<core::EnqueueResult>, Handler>(std::move(h), {}, Durability::durable),
              specs(std::move(s)) {}
        boost::asio::awaitable<void> apply(Transaction&) override { co_return; }
        std::vector<core::JobSpec>* enqueued() override { return &specs; }
        void enqueue_results(std::vector<core::EnqueueResult> results) override { this->result = std::move(results); }
        std::vector<core::JobSpec> specs;
    };

    template <class R>
    struct Initiation {
        GroupCommit* self;
        Durability durability;
        template <class Handler>
        void operator()(Handler&& handler, std::function<boost::asio::awaitable<R>(Transaction&)> op) const {
            self->submit(std::make_unique<TypedOperation<R, std::decay_t<Handler>>>(std::forward<Handler>(handler),
                                                                                    std::move(op), durability));
        }
    };

    struct EnqueueInitiation {
        GroupCommit* self;
        template <class Handler>
        void operator()(Handler&& handler, std::vector<core::JobSpec> specs) const {
            self->submit(std::make_unique<EnqueueOperation<std::decay_t<Handler>>>(std::forward<Handler>(handler),
                                                                                   std::move(specs)));
        }
    };

    // What the writer shares with its coroutine, which may outlive this by the
    // few steps after it completed the last operation.
    struct Queue {
        std::mutex mutex;
        std::vector<Pending> pending;  // guarded by mutex
        bool writing = false;          // guarded by mutex
    };

    void submit(Pending pending);
    static boost::asio::awaitable<void> write_all(GroupCommit* self, std::shared_ptr<Queue> queue);
    // One batch: applied and committed, or failed as a whole. Completes nothing.
    boost::asio::awaitable<std::exception_ptr> write(std::vector<Pending>& batch);
    boost::asio::awaitable<std::exception_ptr> write_once(std::vector<Pending>& batch);
    boost::asio::awaitable<void> apply_enqueues(Transaction& tx, std::vector<Pending>& batch);
    static void deliver(std::vector<Pending> batch, std::exception_ptr error);

    ConnectionPool& pool_;
    std::string node_;
    SharedCounts& counts_;
    core::JobHistory& history_;
    core::Metrics* metrics_;
    std::chrono::milliseconds timeout_;
    std::shared_ptr<Queue> queue_ = std::make_shared<Queue>();
};

}  // namespace jobq::storage::pg
