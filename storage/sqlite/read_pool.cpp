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
    for (std::size_t i = 0; i < connections; ++i) {
        auto reader = std::make_unique<Reader>();
        Reader& r = *reader;
        readers_.push_back(std::move(reader));  // owned first: freed with readers_ if the open below throws
        on_thread(r.executor, [&r, &path] { r.db = std::make_unique<Database>(path, read_only); });
    }
}

ReadPool::~ReadPool() {
    for (auto& reader : readers_) {
        Reader& r = *reader;
        on_thread(r.executor, [&r] { r.db.reset(); });
    }
}

ReadPool::Reader& ReadPool::least_busy() {
    return **std::min_element(readers_.begin(), readers_.end(), [](const auto& a, const auto& b) {
        return a->underway.load(std::memory_order_relaxed) < b->underway.load(std::memory_order_relaxed);
    });
}

}  // namespace jobq::storage
