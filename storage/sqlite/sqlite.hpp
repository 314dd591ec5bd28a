#pragma once
// RAII over the SQLite C API. <sqlite3.h> stays in sqlite.cpp: callers see only these
// types. Every failure throws core::StorageError carrying SQLite's message.
//
// Thread-safety: a Database and its statements belong to the thread that opened it;
// any call from another thread throws (the DB executor's contract, enforced).

#include "core/job_store.hpp"

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

struct sqlite3;
struct sqlite3_stmt;

namespace jobq::storage {

class Database;

class Statement {
public:
    Statement(Database& db, std::string_view sql);
    Statement(Statement&&) noexcept = default;
    Statement& operator=(Statement&&) noexcept = default;

    // Parameters are numbered from 1, as in SQLite.
    Statement& bind(int index, std::int64_t value);
    Statement& bind(int index, std::string_view text);
    Statement& bind(int index, const std::string& text) { return bind(index, std::string_view(text)); }
    Statement& bind(int index, const char* text) { return bind(index, std::string_view(text)); }
    Statement& bind(int index, const std::optional<std::string>& text);
    Statement& bind(int index, const std::optional<std::int64_t>& value);
    Statement& bind_null(int index);
    // Named apart from bind(): an int argument would be ambiguous between the two.
    Statement& bind_double(int index, double value);

    // True when a row is available; false when done.
    bool step();
    // Steps to completion; returns the number of rows changed.
    std::int64_t run();
    // Clears bindings and rewinds, ready for reuse.
    void reset();

    std::int64_t column_int64(int index) const;
    std::string column_text(int index) const;
    std::optional<std::string> column_optional_text(int index) const;
    std::optional<std::int64_t> column_optional_int64(int index) const;
    bool column_is_null(int index) const;
    double column_double(int index) const;

private:
    struct finalizer {
        void operator()(sqlite3_stmt* s) const noexcept;
    };
    Database* db_;
    std::unique_ptr<sqlite3_stmt, finalizer> stmt_;
};

// A cached statement on loan: rewound when the loan ends, so no read stays open and
// holds back a WAL checkpoint.
class StatementLease {
public:
    explicit StatementLease(Statement& s) : s_(&s) {}
    StatementLease(const StatementLease&) = delete;
    StatementLease& operator=(const StatementLease&) = delete;
    ~StatementLease() { s_->reset(); }
    Statement* operator->() const { return s_; }
    Statement& operator*() const { return *s_; }

private:
    Statement* s_;
};

enum class Synchronous { full, normal };

// Opens a connection that only reads (see Database).
struct ReadOnly {};
inline constexpr ReadOnly read_only{};

class Database {
public:
    // Opens (creating if needed) in WAL mode with busy_timeout and foreign keys on. Throws
    // StorageError when SQLite will not use WAL for it (an in-memory database, say).
    Database(const std::string& path, Synchronous sync);
    // A read-only connection to an existing database in WAL mode: it reads beside the
    // writer, which never waits for it.
    Database(const std::string& path, ReadOnly);
    Database(const Database&) = delete;
    Database& operator=(const Database&) = delete;
    ~Database();

    void exec(std::string_view sql);
    // A statement prepared on first use and reused after.
    StatementLease cached(std::string_view sql);
    std::int64_t changes() const;
    std::int64_t last_insert_rowid() const;
    std::int64_t user_version();
    void set_user_version(std::int64_t version);

    // The synchronous setting the database was opened with, and the one the next commit
    // uses: `commit_with(normal)` lets a commit skip its fsync (see GroupCommit),
    // `commit_with(configured_sync())` restores the configured one. Executes the PRAGMA
    // only when the setting changes; outside a transaction only.
    Synchronous configured_sync() const { return configured_sync_; }
    void commit_with(Synchronous sync);

    // Throws when called off the thread that opened the database.
    void check_thread() const;
    [[noreturn]] void fail(int code, std::string_view what) const;
    sqlite3* handle() const { return db_.get(); }

private:
    struct Closer {
        void operator()(sqlite3* db) const noexcept;
    };
    void open(const std::string& path, int flags);
    void require_wal(const std::string& path, std::string_view pragma);

    std::unique_ptr<sqlite3, Closer> db_;
    std::thread::id owner_;
    std::map<std::string, Statement, std::less<>> statements_;
    Synchronous configured_sync_;
    Synchronous current_sync_;
};

// BEGIN IMMEDIATE on construction; ROLLBACK in the destructor unless committed.
class Transaction {
public:
    explicit Transaction(Database& db);
    Transaction(const Transaction&) = delete;
    Transaction& operator=(const Transaction&) = delete;
    ~Transaction();
    void commit();

private:
    Database& db_;
    bool open_ = true;
};

// A read transaction for as long as it lives, on a read-only connection: ended by COMMIT,
// or ROLLBACK when that fails, whatever the error (a transaction left open would pin the
// connection's snapshot, and refuse the next BEGIN).
class ReadTransaction {
public:
    explicit ReadTransaction(Database& db);
    ReadTransaction(const ReadTransaction&) = delete;
    ReadTransaction& operator=(const ReadTransaction&) = delete;
    ~ReadTransaction();

private:
    Database& db_;
};

}  // namespace jobq::storage
