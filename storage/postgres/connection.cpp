#include "storage/postgres/connection.hpp"

#include "common/asio_tokens.hpp"

#include <libpq-fe.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <cstdlib>

namespace jobq::storage::pg {

namespace asio = boost::asio;
using namespace asio::experimental::awaitable_operators;
using wait_type = asio::posix::stream_descriptor::wait_type;

namespace {

struct Finish {
    void operator()(PGconn* c) const noexcept { PQfinish(c); }
};
using OwnedConnection = std::unique_ptr<PGconn, Finish>;

// libpq's messages end with a newline, and some span lines.
std::string one_line(const char* message) {
    std::string text = message ? message : "";
    while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
    for (char& c : text)
        if (c == '\n') c = ' ';
    return text;
}

// The client's side of keepalives (the server's are set per session, connection.hpp).
constexpr std::pair<const char*, const char*> keepalives[] = {
    {"keepalives_idle", "10"}, {"keepalives_interval", "5"}, {"keepalives_count", "2"}};

// Everything that may block: the name lookup, the handshake, the set-up
// statements. On the connector's thread.
asio::awaitable<PGconn*> connect_blocking(ConnectOptions options) {
    // Defaults first: with expand_dbname, the connection string's own values
    // (last) win, and libpq's environment variables fill in only what neither
    // gives.
    std::vector<const char*> keys;
    std::vector<const char*> values;
    if (!std::getenv("PGAPPNAME")) {
        keys.push_back("application_name");
        values.push_back("jobq");
    }
    if (!std::getenv("PGCONNECT_TIMEOUT")) {
        keys.push_back("connect_timeout");
        values.push_back("5");
    }
    // A peer that vanished (a machine off, a cable out) is noticed within about
    // 20 s.
    for (const auto& [key, value] : keepalives) {
        keys.push_back(key);
        values.push_back(value);
    }
    keys.push_back("dbname");
    values.push_back(options.conninfo.c_str());
    keys.push_back(nullptr);
    values.push_back(nullptr);

    OwnedConnection connection(PQconnectdbParams(keys.data(), values.data(), 1));
    if (!connection) throw ConnectionError("cannot connect to PostgreSQL: out of memory");
    if (PQstatus(connection.get()) != CONNECTION_OK)
        throw ConnectionError("cannot connect to PostgreSQL: " + one_line(PQerrorMessage(connection.get())));
    // libpq would print the server's notices ("table does not exist, skipping")
    // on stderr.
    PQsetNoticeProcessor(
        connection.get(), [](void*, const char*) {}, nullptr);
    if (PQsetnonblocking(connection.get(), 1) != 0 || PQenterPipelineMode(connection.get()) != 1)
        throw ConnectionError("cannot set up the PostgreSQL connection: " + one_line(PQerrorMessage(connection.get())));
    co_return connection.release();
}

constexpr auto setup_timeout = std::chrono::seconds(10);

// The session's settings, sent once it is open. The server's side of keepalives, so that it
// ends the session of a client that vanished (a machine off, a cable out) within about
// 20 s, releasing its advisory locks (a leader's, a node's name) and its transaction; and
// a transaction left idle by a client that hung is ended too.
std::vector<Statement> session_setup(const ConnectOptions& options) {
    const auto statement_ms = options.statement_timeout.count();
    auto setup = batch(Statement("SET statement_timeout = " + std::to_string(statement_ms)),
                       Statement("SET tcp_keepalives_idle = 10"), Statement("SET tcp_keepalives_interval = 5"),
                       Statement("SET tcp_keepalives_count = 2"),
                       Statement("SET idle_in_transaction_session_timeout = " +
                                 std::to_string(std::max<std::int64_t>(60'000, 2 * statement_ms))));
    for (const auto& sql : options.setup) setup.push_back(Statement(sql));
    return setup;
}

}  // namespace

asio::awaitable<std::unique_ptr<Connection>> Connection::open(asio::any_io_executor executor,
                                                              asio::any_io_executor connector, ConnectOptions options) {
    auto setup = session_setup(options);
    PGconn* connected = co_await asio::co_spawn(connector, connect_blocking(std::move(options)), asio::use_awaitable);
    OwnedConnection owned(connected);
    auto connection = std::unique_ptr<Connection>(new Connection(std::move(executor), owned.get()));
    owned.release();
    // On the event loop, with a deadline: a server that accepted the connection and then
    // hangs fails it here rather than holding the connector's thread.
    co_await connection->run(std::move(setup), setup_timeout);
    co_return connection;
}

Connection::Connection(asio::any_io_executor executor, PGconn* connection)
    : strand_(asio::make_strand(std::move(executor))),
      connection_(connection),
      socket_(strand_, PQsocket(connection)),
      backend_pid_(PQbackendPID(connection)) {}

Connection::~Connection() {
    close();
}

void Connection::close() noexcept {
    broken_ = true;
    if (!connection_) return;
    socket_.release();  // libpq's to close
    PQfinish(connection_);
    connection_ = nullptr;
}

void Connection::fail(const std::string& what) {
    std::string message = what;
    if (connection_) {
        const auto detail = one_line(PQerrorMessage(connection_));
        if (!detail.empty()) message += ": " + detail;
    }
    close();
    throw ConnectionError("PostgreSQL connection: " + message);
}

void replace_nul(std::string& text) {
    for (auto at = text.find('\0'); at != std::string::npos; at = text.find('\0', at + 3))
        text.replace(at, 1, "\xEF\xBF\xBD");
}

bool Connection::idle() const {
    return connection_ && PQtransactionStatus(connection_) == PQTRANS_IDLE;
}

asio::awaitable<std::vector<Result>> Connection::run(std::vector<Statement> statements,
                                                     std::chrono::milliseconds timeout) {
    return asio::co_spawn(strand_, run_on_strand(std::move(statements), timeout), asio::use_awaitable);
}

asio::awaitable<std::vector<Result>> Connection::run_on_strand(std::vector<Statement> statements,
                                                               std::chrono::milliseconds timeout) {
    if (broken_) throw ConnectionError("PostgreSQL connection: closed after an earlier failure");
    asio::steady_timer timer(strand_, timeout);
    auto outcome = co_await (exchange(statements) || timer.async_wait(use_nothrow));
    if (outcome.index() == 1) {
        close();
        throw ConnectionError("PostgreSQL connection: no answer within " + std::to_string(timeout.count()) +
                              " ms; closed");
    }
    auto exchanged = std::get<0>(std::move(outcome));
    if (exchanged.error) std::rethrow_exception(exchanged.error);
    co_return std::move(exchanged.results);
}

// Never throws: `||` waits for the first branch that *succeeds*, so an
// exception here would wait out the timer.
asio::awaitable<Connection::Exchanged> Connection::exchange(const std::vector<Statement>& statements) {
    Exchanged exchanged;
    try {
        auto replies = send(statements);
        co_await flush();
        exchanged.results = co_await read_results(std::move(replies));
    } catch (...) {
        exchanged.error = std::current_exception();
    }
    co_return exchanged;
}

std::vector<bool> Connection::send(const std::vector<Statement>& statements) {
    std::vector<bool> replies;  // per reply to come: true for a statement's, false for a Parse's
    std::vector<const char*> values;
    just_prepared_.clear();
    for (const auto& statement : statements) {
        values.clear();
        for (const auto& param : statement.params) values.push_back(param ? param->c_str() : nullptr);
        const auto count = static_cast<int>(values.size());
        const std::string* name = prepared_name(statement, replies);
        const int sent =
            name ? PQsendQueryPrepared(connection_, name->c_str(), count, values.data(), nullptr, nullptr, 0)
                 : PQsendQueryParams(connection_, statement.sql.c_str(), count, nullptr, values.data(), nullptr,
                                     nullptr, 0);
        if (sent != 1) fail("cannot send a statement");
        replies.push_back(true);
    }
    if (PQpipelineSync(connection_) != 1) fail("cannot send a statement");
    return replies;
}

// The statements a store sends are a few texts over and over: each is parsed and planned
// once per connection (up to a bound, beyond which the rest go unnamed), its name kept.
const std::string* Connection::prepared_name(const Statement& statement, std::vector<bool>& replies) {
    if (const auto found = prepared_.find(statement.sql); found != prepared_.end()) return &found->second;
    if (prepared_.size() >= max_prepared) return nullptr;
    // Names never repeat on a connection: one whose Parse failed is never asked for again.
    std::string name = "jobq_" + std::to_string(next_prepared_++);
    if (PQsendPrepare(connection_, name.c_str(), statement.sql.c_str(), static_cast<int>(statement.params.size()),
                      nullptr) != 1)
        fail("cannot send a statement");
    replies.push_back(false);
    just_prepared_.push_back(statement.sql);
    return &prepared_.emplace(statement.sql, std::move(name)).first->second;
}

asio::awaitable<void> Connection::flush() {
    for (;;) {
        const int pending = PQflush(connection_);
        if (pending == 0) co_return;
        if (pending < 0) fail("cannot send a statement");
        // The server may be blocked writing results we have not read: read while
        // waiting to write, or neither side moves.
        auto ready = co_await (socket_.async_wait(wait_type::wait_write, use_nothrow) ||
                               socket_.async_wait(wait_type::wait_read, use_nothrow));
        const auto [ec] = ready.index() == 0 ? std::get<0>(ready) : std::get<1>(ready);
        if (ec) fail(ec.message());
        if (ready.index() == 1 && !consume_input()) fail("connection lost");
    }
}

asio::awaitable<void> Connection::wait_readable() {
    const auto [ec] = co_await socket_.async_wait(wait_type::wait_read, use_nothrow);
    if (ec) fail(ec == asio::error::operation_aborted ? "interrupted" : ec.message());
}

bool Connection::consume_input() {
    if (PQconsumeInput(connection_) != 1) return false;
    collect_notifications();
    return true;
}

void Connection::collect_notifications() {
    while (PGnotify* notify = PQnotifies(connection_)) {
        notifications_.push_back({notify->relname, notify->extra ? notify->extra : ""});
        PQfreemem(notify);
    }
}

asio::awaitable<std::vector<Result>> Connection::read_results(std::vector<bool> replies) {
    const auto count = static_cast<std::size_t>(std::count(replies.begin(), replies.end(), true));
    std::vector<Result> results;
    results.reserve(count);
    std::size_t replied = 0;
    Result current;
    std::optional<std::pair<std::string, std::string>> refused;  // the first error: sqlstate, message
    bool synced = false;
    while (!synced) {
        if (!consume_input()) fail("connection lost");
        while (!synced && !PQisBusy(connection_)) {
            PGresult* raw = PQgetResult(connection_);
            if (raw == nullptr) {
                // The end of one reply: a statement's results, or a Parse's.
                if (replied == replies.size()) break;  // not expected: wait for the sync
                if (replies[replied++]) results.push_back(std::move(current));
                current = Result();
                continue;
            }
            Result result(raw);
            if (result.status() == PGRES_PIPELINE_SYNC) {
                synced = true;
            } else if (result.status() == PGRES_FATAL_ERROR) {
                if (PQstatus(connection_) == CONNECTION_BAD) fail("connection lost");
                if (!refused) refused.emplace(result.sqlstate(), result.error_message());
                current = std::move(result);
            } else {
                current = std::move(result);
            }
        }
        if (PQstatus(connection_) == CONNECTION_BAD) fail("connection lost");
        if (!synced) co_await wait_readable();
    }
    if (refused) {
        // A Parse of this batch may be among what failed or was skipped. A statement the
        // server no longer has (26000), or whose plan the schema changed under (0A000,
        // after a migration by a newer node): every one is prepared again.
        for (const auto& sql : just_prepared_) prepared_.erase(sql);
        if (refused->first == "26000" || refused->first == "0A000") prepared_.clear();
        co_await roll_back_failed_transaction();
        throw StatementError(refused->first, refused->second);
    }
    co_return results;
}

// After an error inside BEGIN ... the transaction refuses everything until it
// ends.
asio::awaitable<void> Connection::roll_back_failed_transaction() {
    if (PQtransactionStatus(connection_) != PQTRANS_INERROR && PQtransactionStatus(connection_) != PQTRANS_INTRANS)
        co_return;
    const auto rollback = batch(Statement("ROLLBACK"));
    auto replies = send(rollback);
    co_await flush();
    // A ROLLBACK does not fail: anything else here means the connection is
    // unusable.
    try {
        co_await read_results(std::move(replies));
    } catch (const StatementError& e) {
        fail(std::string("ROLLBACK failed: ") + e.what());
    }
}

asio::awaitable<bool> Connection::wait_for_notification(std::chrono::milliseconds timeout) {
    return asio::co_spawn(strand_, wait_on_strand(timeout), asio::use_awaitable);
}

asio::awaitable<bool> Connection::wait_on_strand(std::chrono::milliseconds timeout) {
    if (broken_) throw ConnectionError("PostgreSQL connection: closed after an earlier failure");
    if (!consume_input()) fail("connection lost");
    if (!notifications_.empty()) co_return true;
    asio::steady_timer timer(strand_, timeout);
    auto outcome = co_await (socket_.async_wait(wait_type::wait_read, use_nothrow) || timer.async_wait(use_nothrow));
    if (outcome.index() == 1) co_return false;
    if (const auto [ec] = std::get<0>(outcome); ec) fail(ec.message());
    if (!consume_input()) fail("connection lost");
    if (PQstatus(connection_) == CONNECTION_BAD) fail("connection lost");
    co_return !notifications_.empty();
}

std::vector<Notification> Connection::take_notifications() {
    std::vector<Notification> taken(std::make_move_iterator(notifications_.begin()),
                                    std::make_move_iterator(notifications_.end()));
    notifications_.clear();
    return taken;
}

}  // namespace jobq::storage::pg
