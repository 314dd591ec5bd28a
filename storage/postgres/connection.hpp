#pragma once
// One connection to PostgreSQL through libpq, used asynchronously on Asio: its
// socket is waited on by the io_context, and statements go in pipeline mode, a
// batch of them in one round trip. Opening is the one blocking part (libpq
// resolves the host name and does the handshake synchronously): it runs on a
// `connector` executor whose threads may block, never on the event loop.
//
// A Connection is used by one coroutine at a time (the pool hands it out); its
// members run on a strand of its own. When it breaks or does not answer in time
// it is closed for good (broken()), and the pool opens another.

#include "storage/postgres/result.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/strand.hpp>

#include <chrono>
#include <deque>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

struct pg_conn;

namespace jobq::storage::pg {

// A parameter in text form; nullopt is NULL.
using Param = std::optional<std::string>;

// PostgreSQL's text holds no NUL character, and libpq takes a parameter as a C string: a
// NUL (in a worker's error message, say) would cut it short, or make an array literal
// malformed and fail a whole batch with it. Each is replaced by U+FFFD.
void replace_nul(std::string& text);

struct Statement {
    Statement(std::string text, std::vector<Param> values = {}) : sql(std::move(text)), params(std::move(values)) {
        for (auto& param : params)
            if (param) replace_nul(*param);
    }
    std::string sql;
    std::vector<Param> params;
};

// Builders that make no std::initializer_list: GCC 12 miscompiles a braced list
// built inside a coroutine body ("array used as initializer"), so coroutines
// build their batches with these.
template <class... P>
std::vector<Param> params(P&&... values) {
    std::vector<Param> out;
    out.reserve(sizeof...(P));
    (out.push_back(Param(std::forward<P>(values))), ...);
    return out;
}

template <class... S>
std::vector<Statement> batch(S&&... statements) {
    std::vector<Statement> out;
    out.reserve(sizeof...(S));
    (out.push_back(Statement(std::forward<S>(statements))), ...);
    return out;
}

struct Notification {
    std::string channel;
    std::string payload;
};

struct ConnectOptions {
    // A libpq connection string or URI (postgresql://...); libpq's PG*
    // environment variables fill in what it leaves out.
    std::string conninfo;
    // The server's statement_timeout on this connection: a statement running
    // longer is cancelled by the server. 0: none.
    std::chrono::milliseconds statement_timeout{30'000};
    // Run once, in order, right after connecting (SET ..., LISTEN ...), after the
    // settings every session gets: statement_timeout, the server's TCP keepalives (about
    // 20 s to notice a vanished client), idle_in_transaction_session_timeout.
    std::vector<std::string> setup = {};
};

class Connection {
public:
    // Connects on `connector` (threads that may block), then lives on a strand of
    // `executor`. Throws ConnectionError when the server cannot be reached or
    // refuses the connection.
    static boost::asio::awaitable<std::unique_ptr<Connection>> open(boost::asio::any_io_executor executor,
                                                                    boost::asio::any_io_executor connector,
                                                                    ConnectOptions options);
    ~Connection();
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    // Sends the statements in one pipeline, closed by one sync, and reads their
    // results in order. Throws StatementError for the first statement the server
    // refused (those after it in the batch were skipped; an open transaction is
    // rolled back), ConnectionError when the connection broke or `timeout` passed
    // first (it is then closed).
    boost::asio::awaitable<std::vector<Result>> run(std::vector<Statement> statements,
                                                    std::chrono::milliseconds timeout);

    // Waits until a notification (LISTEN) arrives, or `timeout`: false on the
    // timeout. Throws ConnectionError when the connection broke.
    boost::asio::awaitable<bool> wait_for_notification(std::chrono::milliseconds timeout);
    // The notifications received so far, oldest first; they are forgotten.
    std::vector<Notification> take_notifications();

    bool broken() const { return broken_; }
    // Outside any transaction and with nothing in flight: fit to be handed to another user.
    bool idle() const;
    // The server process serving this connection (pg_backend_pid()).
    int backend_pid() const { return backend_pid_; }

private:
    Connection(boost::asio::any_io_executor executor, pg_conn* connection);

    boost::asio::awaitable<std::vector<Result>> run_on_strand(std::vector<Statement> statements,
                                                              std::chrono::milliseconds timeout);
    boost::asio::awaitable<bool> wait_on_strand(std::chrono::milliseconds timeout);
    // The exchange itself: send, flush, read up to the sync; its results or its
    // error.
    struct Exchanged {
        std::vector<Result> results;
        std::exception_ptr error;
    };
    boost::asio::awaitable<Exchanged> exchange(const std::vector<Statement>& statements);
    // Sends them, and a sync; what replies are to come, in order (see read_results).
    std::vector<bool> send(const std::vector<Statement>& statements);
    // The name the statement is prepared under on this connection (a Parse sent now if
    // it was not yet, its reply noted in `replies`), or null: sent unnamed.
    const std::string* prepared_name(const Statement& statement, std::vector<bool>& replies);
    boost::asio::awaitable<void> flush();
    // Reads up to the sync: per reply in `replies`, a statement's results (true, kept) or a
    // Parse's (false).
    boost::asio::awaitable<std::vector<Result>> read_results(std::vector<bool> replies);
    boost::asio::awaitable<void> wait_readable();
    boost::asio::awaitable<void> roll_back_failed_transaction();
    // Reads what the socket has; false when the connection broke.
    bool consume_input();
    void collect_notifications();
    [[noreturn]] void fail(const std::string& what);
    void close() noexcept;

    boost::asio::strand<boost::asio::any_io_executor> strand_;
    pg_conn* connection_;
    boost::asio::posix::stream_descriptor socket_;  // libpq's socket: released, never closed, by it
    std::deque<Notification> notifications_;
    static constexpr std::size_t max_prepared = 256;
    std::unordered_map<std::string, std::string> prepared_;  // SQL -> its prepared statement's name
    std::uint64_t next_prepared_ = 0;
    std::vector<std::string> just_prepared_;  // prepared by the batch under way
    bool broken_ = false;
    int backend_pid_ = 0;
};

}  // namespace jobq::storage::pg
