#pragma once
// Group commit: write operations submitted from any thread queue up; the DB thread drains
// whatever is pending into one BEGIN IMMEDIATE ... COMMIT, so one fsync serves all of
// them, then completes each on its caller's executor.
//
// Thread-safe: run() may be called from any thread. It completes after the transaction
// holding the operation has committed; if the transaction fails, every operation in it
// fails with the same StorageError. Not cancellable: an operation once queued is applied.

#include "core/durability.hpp"
#include "core/metrics.hpp"
#include "storage/sqlite/sqlite.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

namespace jobq::storage {

// core::Durability on SQLite: a batch of redoable operations only commits without its
// fsync; the next durable commit's fsync covers it too, since the WAL is written in order.
// A process crash loses neither: the commit is in the operating system's hands.
using core::Durability;

struct GroupCommitStats {
    std::uint64_t transactions = 0;
    std::uint64_t operations = 0;
    std::uint64_t largest_batch = 0;
    std::uint64_t without_fsync = 0;  // with --sync full: transactions of redoable operations only
};

// Told of each transaction around its COMMIT, on the DB thread: what must be written in
// the same transaction as the operations, and kept in step with it after.
class CommitListener {
public:
    virtual ~CommitListener() = default;
    // Inside the transaction, after its operations; throwing rolls the transaction back.
    virtual void before_commit(Database& db) = 0;
    // The transaction committed.
    virtual void committed() noexcept = 0;
    // It did not: nothing of it was stored.
    virtual void rolled_back() noexcept = 0;
};

class GroupCommit {
public:
    // `metrics` (optional) gets each transaction's size and duration; `listener`
    // (optional) outlives this.
    GroupCommit(Database& db, boost::asio::io_context::executor_type db_executor, core::Metrics* metrics = nullptr,
                CommitListener* listener = nullptr);

    // `op` runs on the DB thread inside the transaction; R must be default-constructible.
    // Deliberately not a coroutine: it returns the awaitable of an asynchronous operation,
    // so no lambda with captures is built inside a coroutine body (GCC 12 miscompiles
    // those).
    template <class R>
    boost::asio::awaitable<R> run(std::function<R(Database&)> op, Durability durability = Durability::durable) {
        return boost::asio::async_initiate<const boost::asio::use_awaitable_t<>&, void(std::exception_ptr, R)>(
            Initiation<R>{this, durability}, boost::asio::use_awaitable, std::move(op));
    }

    // DB thread only.
    const GroupCommitStats& stats() const { return stats_; }

private:
    // One queued write, in one allocation: the operation, its caller's handler and the
    // result (shared state behind two std::function wrappers would take three).
    struct Operation {
        Operation(boost::asio::any_io_executor caller, Durability d) : executor(std::move(caller)), durability(d) {}
        virtual ~Operation() = default;
        virtual void apply(Database& db) = 0;                  // inside the transaction
        virtual void complete(std::exception_ptr error) = 0;  // after it, on `executor`
        boost::asio::any_io_executor executor;                 // the caller's
        Durability durability;
    };
    using Pending = std::unique_ptr<Operation>;

    template <class R, class Handler>
    struct TypedOperation final : Operation {
        TypedOperation(Handler&& h, std::function<R(Database&)> f, Durability d)
            : Operation(boost::asio::get_associated_executor(h), d),
              handler(std::move(h)),
              work(boost::asio::get_associated_executor(handler)),
              op(std::move(f)) {}
        void apply(Database& db) override { result = op(db); }
        void complete(std::exception_ptr error) override {
            work.reset();
            std::move(handler)(error, std::move(result));
        }
        Handler handler;
        // Keeps the caller's io_context running until the result is delivered.
        boost::asio::executor_work_guard<boost::asio::associated_executor_t<Handler>> work;
        std::function<R(Database&)> op;
        R result{};
    };

    template <class R>
    struct Initiation {
        GroupCommit* self;
        Durability durability;

        template <class Handler>
        void operator()(Handler&& handler, std::function<R(Database&)> op) const {
            self->submit(std::make_unique<TypedOperation<R, std::decay_t<Handler>>>(std::forward<Handler>(handler),
                                                                                   std::move(op), durability));
        }
    };

    void submit(Pending pending);
    void flush();
    static void deliver(std::vector<Pending> batch, std::exception_ptr error);

    Database& db_;
    boost::asio::io_context::executor_type executor_;
    core::Metrics* metrics_;
    CommitListener* listener_;
    std::mutex mutex_;
    std::vector<Pending> queue_;   // guarded by mutex_
    bool flush_posted_ = false;    // guarded by mutex_
    GroupCommitStats stats_;       // DB thread only
};

}  // namespace jobq::storage
