#include "storage/sqlite/sqlite.hpp"

#include "core/log.hpp"

#include <sqlite3.h>

namespace jobq::storage {

// --- Statement ---------------------------------------------------------------------

void Statement::finalizer::operator()(sqlite3_stmt* s) const noexcept { sqlite3_finalize(s); }

Statement::Statement(Database& db, std::string_view sql) : db_(&db) {
    db.check_thread();
    sqlite3_stmt* raw = nullptr;
    const int rc = sqlite3_prepare_v3(db.handle(), sql.data(), static_cast<int>(sql.size()),
                                      SQLITE_PREPARE_PERSISTENT, &raw, nullptr);
    stmt_.reset(raw);
    if (rc != SQLITE_OK) db.fail(rc, "prepare");
}

Statement& Statement::bind(int index, std::int64_t value) {
    if (const int rc = sqlite3_bind_int64(stmt_.get(), index, value); rc != SQLITE_OK) db_->fail(rc, "bind");
    return *this;
}

Statement& Statement::bind(int index, std::string_view text) {
    const int rc = sqlite3_bind_text64(stmt_.get(), index, text.data(), text.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
    if (rc != SQLITE_OK) db_->fail(rc, "bind");
    return *this;
}

Statement& Statement::bind(int index, const std::optional<std::string>& text) {
    return text ? bind(index, std::string_view(*text)) : bind_null(index);
}

Statement& Statement::bind(int index, const std::optional<std::int64_t>& value) {
    return value ? bind(index, *value) : bind_null(index);
}

Statement& Statement::bind_null(int index) {
    if (const int rc = sqlite3_bind_null(stmt_.get(), index); rc != SQLITE_OK) db_->fail(rc, "bind");
    return *this;
}

bool Statement::step() {
    db_->check_thread();
    const int rc = sqlite3_step(stmt_.get());
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    sqlite3_reset(stmt_.get());
    db_->fail(rc, "step");
}

std::int64_t Statement::run() {
    while (step()) {
    }
    return db_->changes();
}

void Statement::reset() {
    sqlite3_reset(stmt_.get());
    sqlite3_clear_bindings(stmt_.get());
}

std::int64_t Statement::column_int64(int index) const { return sqlite3_column_int64(stmt_.get(), index); }

double Statement::column_double(int index) const { return sqlite3_column_double(stmt_.get(), index); }

Statement& Statement::bind_double(int index, double value) {
    if (const int rc = sqlite3_bind_double(stmt_.get(), index, value); rc != SQLITE_OK) db_->fail(rc, "bind");
    return *this;
}

std::string Statement::column_text(int index) const {
    const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt_.get(), index));
    return text ? std::string(text, static_cast<std::size_t>(sqlite3_column_bytes(stmt_.get(), index))) : std::string();
}

bool Statement::column_is_null(int index) const { return sqlite3_column_type(stmt_.get(), index) == SQLITE_NULL; }

std::optional<std::string> Statement::column_optional_text(int index) const {
    if (column_is_null(index)) return std::nullopt;
    return column_text(index);
}

std::optional<std::int64_t> Statement::column_optional_int64(int index) const {
    if (column_is_null(index)) return std::nullopt;
    return column_int64(index);
}

// --- Database ----------------------------------------------------------------------

namespace {

// Before SQLite's first use in the process: no memory statistics (nothing here reads
// them), so an allocation takes no global mutex and keeps no count.
void configure_sqlite_once() {
    static const bool configured = [] {
        sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);  // SQLITE_MISUSE if already initialized: harmless
        return sqlite3_initialize() == SQLITE_OK;
    }();
    (void)configured;
}

}  // namespace

void Database::Closer::operator()(sqlite3* db) const noexcept {
    // sqlite3_close_v2 cannot fail with SQLITE_BUSY: a statement still open (a bug) defers
    // the close until it is finalized instead of leaking the connection.
    if (const int rc = sqlite3_close_v2(db); rc != SQLITE_OK)
        core::log::error("closing the database failed", {{"error", sqlite3_errstr(rc)}});
}

Database::Database(const std::string& path, Synchronous sync)
    : owner_(std::this_thread::get_id()), configured_sync_(sync), current_sync_(sync) {
    open(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    require_wal(path, "PRAGMA journal_mode=WAL");
    exec(sync == Synchronous::full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL");
    exec("PRAGMA foreign_keys=ON");
}

Database::Database(const std::string& path, ReadOnly)
    : owner_(std::this_thread::get_id()), configured_sync_(Synchronous::normal), current_sync_(Synchronous::normal) {
    open(path, SQLITE_OPEN_READONLY);
    // A reader cannot choose the mode; it must find WAL, or it would block the writer.
    require_wal(path, "PRAGMA journal_mode");
}

void Database::open(const std::string& path, int flags) {
    configure_sqlite_once();
    sqlite3* raw = nullptr;
    const int rc = sqlite3_open_v2(path.c_str(), &raw, flags | SQLITE_OPEN_NOMUTEX, nullptr);
    db_.reset(raw);  // owned from here on, whatever throws below
    if (rc != SQLITE_OK)
        throw core::StorageError("cannot open database " + path + ": " + (raw ? sqlite3_errmsg(raw) : sqlite3_errstr(rc)));
    sqlite3_extended_result_codes(raw, 1);
    sqlite3_busy_timeout(raw, 5'000);
}

// Group commit's durability argument rests on WAL (a commit is one append and one fsync,
// readers never block the writer). SQLite answers with the mode it chose, which is not WAL
// for an in-memory database or where the file system cannot share memory for the index.
void Database::require_wal(const std::string& path, std::string_view pragma) {
    Statement s(*this, pragma);
    const std::string mode = s.step() ? s.column_text(0) : std::string();
    if (mode != "wal")
        throw core::StorageError("cannot open database " + path + " in WAL mode (SQLite chose journal mode '" + mode +
                                 "'); jobq needs a database file on a local file system");
}

Database::~Database() {
    statements_.clear();  // statements are finalized before the connection closes
}

void Database::check_thread() const {
    if (std::this_thread::get_id() != owner_)
        throw core::StorageError("database used off its own thread (a bug: use the DB executor)");
}

void Database::fail(int code, std::string_view what) const {
    throw core::StorageError(std::string(what) + ": " + sqlite3_errstr(code) + " (" + sqlite3_errmsg(db_.get()) + ")");
}

void Database::commit_with(Synchronous sync) {
    if (sync == current_sync_) return;
    exec(sync == Synchronous::full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL");
    current_sync_ = sync;
}

void Database::exec(std::string_view sql) {
    check_thread();
    const std::string text(sql);
    if (const int rc = sqlite3_exec(db_.get(), text.c_str(), nullptr, nullptr, nullptr); rc != SQLITE_OK) fail(rc, "exec");
}

StatementLease Database::cached(std::string_view sql) {
    auto it = statements_.find(sql);
    if (it == statements_.end()) it = statements_.emplace(std::string(sql), Statement(*this, sql)).first;
    return StatementLease(it->second);
}

std::int64_t Database::changes() const { return sqlite3_changes64(db_.get()); }

std::int64_t Database::last_insert_rowid() const { return sqlite3_last_insert_rowid(db_.get()); }

std::int64_t Database::user_version() {
    auto s = cached("PRAGMA user_version");
    s->step();
    return s->column_int64(0);
}

void Database::set_user_version(std::int64_t version) {
    exec("PRAGMA user_version=" + std::to_string(version));  // PRAGMA takes no parameters
}

// --- Transaction -------------------------------------------------------------------

// BEGIN and COMMIT are prepared once: every group-commit batch runs both.
Transaction::Transaction(Database& db) : db_(db) { db_.cached("BEGIN IMMEDIATE")->run(); }

Transaction::~Transaction() {
    if (!open_) return;
    try {
        db_.exec("ROLLBACK");
    } catch (...) {
        // SQLite may already have rolled back (after SQLITE_FULL, say); nothing to undo.
    }
}

void Transaction::commit() {
    db_.cached("COMMIT")->run();
    open_ = false;
}

ReadTransaction::ReadTransaction(Database& db) : db_(db) { db_.cached("BEGIN")->run(); }

ReadTransaction::~ReadTransaction() {
    try {
        db_.cached("COMMIT")->run();
    } catch (...) {
        try {
            db_.exec("ROLLBACK");
        } catch (...) {
        }
    }
}

}  // namespace jobq::storage
