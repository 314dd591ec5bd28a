#pragma once
// The dedicated thread on which every sqlite3 call runs. A single-threaded io_context is
// serialized by construction; it is this project's "DB strand".
//
// Reach it with co_await asio::co_spawn(db.executor(), op, asio::use_awaitable): the op
// body runs on the DB thread and the caller resumes on its own executor.

#include <boost/asio/io_context.hpp>
#include <boost/asio/executor_work_guard.hpp>

#include <thread>

namespace jobq::storage {

class DbExecutor {
public:
    DbExecutor();
    DbExecutor(const DbExecutor&) = delete;
    DbExecutor& operator=(const DbExecutor&) = delete;
    // Finishes what was posted, then joins the thread.
    ~DbExecutor();

    boost::asio::io_context::executor_type executor() { return io_.get_executor(); }
    std::thread::id thread_id() const { return thread_.get_id(); }

private:
    boost::asio::io_context io_{1};
    boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
    std::thread thread_;
};

}  // namespace jobq::storage
