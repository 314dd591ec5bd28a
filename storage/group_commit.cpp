#include "storage/group_commit.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <vector>

namespace jobq::storage {

namespace asio = boost::asio;

struct GroupCommit::Batch {
    explicit Batch(const asio::any_io_executor& ex) : committed(ex) {
        committed.expires_at(asio::steady_timer::time_point::max());
    }
    std::vector<Operation> operations;
    asio::steady_timer committed;  // cancelled when the transaction has ended
    std::exception_ptr error;
};

GroupCommit::GroupCommit(Database& db, asio::any_io_executor db_executor)
    : db_(db), executor_(std::move(db_executor)) {}

asio::awaitable<void> GroupCommit::run(Operation op) {
    // The operation may refer to its caller's frame: the caller must not leave before the
    // batch ends, so cancellation is not let through to the wait below.
    co_await asio::this_coro::reset_cancellation_state(asio::disable_cancellation());
    if (!open_) {
        open_ = std::make_shared<Batch>(executor_);
        // Posted behind every operation already queued on the DB thread: they all join
        // this batch before it is flushed.
        asio::post(executor_, [this] { flush(); });
    }
    const std::shared_ptr<Batch> batch = open_;
    batch->operations.push_back(std::move(op));
    co_await batch->committed.async_wait(asio::as_tuple(asio::use_awaitable));
    if (batch->error) std::rethrow_exception(batch->error);
}

void GroupCommit::flush() {
    const std::shared_ptr<Batch> batch = std::exchange(open_, nullptr);
    try {
        Transaction tx(db_);
        for (auto& op : batch->operations) op(db_);
        tx.commit();
        ++stats_.transactions;
        stats_.operations += batch->operations.size();
        stats_.largest_batch = std::max<std::uint64_t>(stats_.largest_batch, batch->operations.size());
    } catch (const core::StorageError&) {
        batch->error = std::current_exception();
    } catch (const std::exception& e) {
        batch->error = std::make_exception_ptr(core::StorageError(e.what()));
    }
    batch->committed.cancel();
}

}  // namespace jobq::storage
