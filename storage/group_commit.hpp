#pragma once
// Group commit: write operations that arrive while the DB thread is busy are applied
// together in one BEGIN IMMEDIATE ... COMMIT, so one fsync serves all of them.
//
// DB-thread-confined: call run() only from a coroutine already on the DB executor.
// run() completes after the transaction holding the operation has committed; if the
// transaction fails, every operation in it fails with the same StorageError.

#include "storage/sqlite.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <cstdint>
#include <functional>
#include <memory>

namespace jobq::storage {

struct GroupCommitStats {
    std::uint64_t transactions = 0;
    std::uint64_t operations = 0;
    std::uint64_t largest_batch = 0;
};

class GroupCommit {
public:
    using Operation = std::function<void(Database&)>;

    GroupCommit(Database& db, boost::asio::any_io_executor db_executor);

    boost::asio::awaitable<void> run(Operation op);

    const GroupCommitStats& stats() const { return stats_; }

private:
    struct Batch;
    void flush();

    Database& db_;
    boost::asio::any_io_executor executor_;
    std::shared_ptr<Batch> open_;  // the batch accepting operations, if any
    GroupCommitStats stats_;
};

}  // namespace jobq::storage
