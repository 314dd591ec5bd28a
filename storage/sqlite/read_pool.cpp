#include "storage/sqlite/read_pool.hpp"

#include <boost/asio/post.hpp>

#include <algorithm>
#include <future>

namespace jobq::storage {

namespace {

// Runs fn on the executor's thread and waits for it (a connection belongs to the thread
// that opened it, and is closed there).
template <class Fn>
void on_thread(DbExecutor& executor, Fn fn) {
    std::packaged_task<void()> task(std::move(fn));
    auto done = task.get_future();
    boost::asio::post(executor.executor(), [&task] { task(); });
    done.get();
}

}  // namespace

ReadPool::ReadPool(const std::string& path, std::size_t connections) {
    connections = std::max<std::size_t>(connections, 1);
    try {
        for (std::size_t i = 0; i < connections; ++i) {
            Reader& r = *readers_.emplace_back(std::make_unique<Reader>());
            on_thread(r.executor, [&r, &path] { r.db = std::make_unique<Database>(path, read_only); });
        }
    } catch (...) {
        close();  // the connections opened so far, each on its thread
        throw;
    }
}

ReadPool::~ReadPool() { close(); }

void ReadPool::close() noexcept {
    for (auto& reader : readers_) {
        Reader& r = *reader;
        try {
            on_thread(r.executor, [&r] { r.db.reset(); });
        } catch (...) {
            // Closing cannot fail (sqlite3_close_v2); a thread that cannot take the task
            // leaves the connection to the Reader's destructor.
        }
    }
}

ReadPool::Reader& ReadPool::least_busy() {
    return **std::min_element(readers_.begin(), readers_.end(), [](const auto& a, const auto& b) {
        return a->underway.load(std::memory_order_relaxed) < b->underway.load(std::memory_order_relaxed);
    });
}

}  // namespace jobq::storage
