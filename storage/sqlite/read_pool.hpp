#pragma once
// Read-only connections, each on a thread of its own, for the reads the store answers the
// API (a job, a listing, the oldest runnable job). WAL lets them read the last committed
// state beside the writer: a slow listing neither waits for a commit nor delays one. A
// read goes to the connection with the fewest reads under way. Thread-safe.

#include "storage/sqlite/db_executor.hpp"
#include "storage/sqlite/sqlite.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <atomic>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace jobq::storage {

class ReadPool {
public:
    // Opens `connections` (at least one) read-only connections to the database at `path`,
    // which must exist in WAL mode; throws StorageError when one cannot be opened.
    ReadPool(const std::string& path, std::size_t connections);
    // Closes each connection on its thread, after the reads posted to it.
    ~ReadPool();

    // Runs fn(db) on a reader's thread; the caller resumes on its own executor. Await it
    // at once: the read is counted as under way from this call until it ends.
    template <class R>
    boost::asio::awaitable<R> run(std::function<R(Database&)> fn) {
        Reader& reader = least_busy();
        reader.underway.fetch_add(1, std::memory_order_relaxed);
        return boost::asio::co_spawn(reader.executor.executor(), read<R>(reader, std::move(fn)),
                                     boost::asio::use_awaitable);
    }

private:
    struct Reader {
        DbExecutor executor;  // declared first: destroyed last, after the connection
        std::unique_ptr<Database> db;
        std::atomic<int> underway{0};
    };

    // Ends a read's count on the reader's own thread, however the read ends: never from
    // the caller's side, whose completion may outlive the pool at shutdown.
    struct Underway {
        explicit Underway(Reader& r) : reader(r) {}
        ~Underway() { reader.underway.fetch_sub(1, std::memory_order_relaxed); }
        Underway(const Underway&) = delete;
        Underway& operator=(const Underway&) = delete;
        Reader& reader;
    };

    template <class R>
    static boost::asio::awaitable<R> read(Reader& reader, std::function<R(Database&)> fn) {
        const Underway underway(reader);
        co_return fn(*reader.db);
    }

    void close() noexcept;

    Reader& least_busy();

    std::vector<std::unique_ptr<Reader>> readers_;
};

}  // namespace jobq::storage
