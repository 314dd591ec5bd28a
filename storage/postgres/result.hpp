#pragma once
// One statement's result from libpq (PGresult), owned, and the errors a
// statement or a connection throws. Values are read as text: every statement
// asks for text results.

#include "core/error.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

struct pg_result;

namespace jobq::storage::pg {

// A statement the server refused (a constraint, a lock timeout, a statement
// timeout,
// ...): `sqlstate` says which (PostgreSQL's five-character code). The
// connection stays usable.
class StatementError : public core::StorageError {
public:
    StatementError(std::string sqlstate, const std::string& message)
        : core::StorageError(message), sqlstate_(std::move(sqlstate)) {}
    const std::string& sqlstate() const { return sqlstate_; }

private:
    std::string sqlstate_;
};

// The connection broke, or did not answer in time; it is closed. Whatever was
// in flight may or may not have been applied (a COMMIT whose answer was lost,
// say).
class ConnectionError : public core::StorageError {
public:
    using core::StorageError::StorageError;
};

class Result {
public:
    Result() = default;
    explicit Result(pg_result* result);

    int rows() const;
    int columns() const;
    bool is_null(int row, int column) const;
    std::string_view text(int row, int column) const;
    std::int64_t int64(int row, int column) const;
    std::optional<std::int64_t> optional_int64(int row, int column) const;
    std::optional<std::string> optional_text(int row, int column) const;
    double float64(int row, int column) const;
    bool boolean(int row, int column) const;  // 't' or 'f'
    // Rows an INSERT, UPDATE or DELETE touched.
    std::int64_t affected() const;

    // The raw status (ExecStatusType) and, for an error, its SQLSTATE and
    // message.
    int status() const;
    std::string sqlstate() const;
    std::string error_message() const;

private:
    struct Clear {
        void operator()(pg_result* r) const noexcept;
    };
    std::unique_ptr<pg_result, Clear> result_;
};

}  // namespace jobq::storage::pg
