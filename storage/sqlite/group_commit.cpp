#include "storage/sqlite/group_commit.hpp"

#include <algorithm>
#include <chrono>

namespace jobq::storage {

namespace asio = boost::asio;

GroupCommit::GroupCommit(Database& db, asio::io_context::executor_type db_executor, core::Metrics* metrics,
                         CommitListener* listener)
    : db_(db), executor_(std::move(db_executor)), metrics_(metrics), listener_(listener) {}

void GroupCommit::submit(Pending pending) {
    bool post_flush = false;
    {
        const std::lock_guard lock(mutex_);
        queue_.push_back(std::move(pending));
        post_flush = !std::exchange(flush_posted_, true);
    }
    // One wake-up of the DB thread per batch: operations arriving while it commits (the
    // fsync) wait for the next flush and share its transaction.
    if (post_flush) asio::post(executor_, [this] { flush(); });
}

void GroupCommit::flush() {
    std::vector<Pending> batch;
    {
        const std::lock_guard lock(mutex_);
        batch.swap(queue_);
        flush_posted_ = false;
    }
    const auto started = std::chrono::steady_clock::now();
    const bool redoable_only = std::all_of(batch.begin(), batch.end(), [](const Pending& p) {
        return p->durability == Durability::redoable;
    });
    std::exception_ptr error;
    try {
        // Set for every batch, so a durable one never commits with a relaxed setting.
        db_.commit_with(redoable_only ? Synchronous::normal : db_.configured_sync());
        Transaction tx(db_);
        for (auto& pending : batch) pending->apply(db_);
        if (listener_) listener_->before_commit(db_);
        tx.commit();
        if (listener_) listener_->committed();
        ++stats_.transactions;
        if (redoable_only && db_.configured_sync() == Synchronous::full) ++stats_.without_fsync;
        stats_.operations += batch.size();
        stats_.largest_batch = std::max<std::uint64_t>(stats_.largest_batch, batch.size());
    } catch (const core::StorageError&) {
        error = std::current_exception();
    } catch (const std::exception& e) {
        error = std::make_exception_ptr(core::StorageError(e.what()));
    } catch (...) {
        error = std::make_exception_ptr(core::StorageError("unknown failure in a write transaction"));
    }
    if (error && listener_) listener_->rolled_back();
    if (metrics_) {
        const auto took = std::chrono::steady_clock::now() - started;
        metrics_->db_commit_batch_size.observe(batch.size());
        metrics_->db_commit_duration.observe(
            static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(took).count()));
    }
    deliver(std::move(batch), error);
}

void GroupCommit::deliver(std::vector<Pending> batch, std::exception_ptr error) {
    if (batch.empty()) return;
    // One hand-off to the callers' side for the whole batch: waking an event-loop thread
    // per operation costs more than the insert. From there each result is posted to its
    // caller's executor, which is cheap on a thread already running that io_context.
    auto first = batch.front()->executor;
    // The callers' io_context may run out of work the moment the batch runs there; this
    // guard keeps it (and its scheduler) alive until this thread has left post().
    const auto keep_running = asio::make_work_guard(first);
    asio::post(first, [batch = std::move(batch), error]() mutable {
        for (auto& pending : batch) {
            auto executor = pending->executor;
            asio::post(executor, [operation = std::move(pending), error] { operation->complete(error); });
        }
    });
}

}  // namespace jobq::storage
