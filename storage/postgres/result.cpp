#include "storage/postgres/result.hpp"

#include <libpq-fe.h>

#include <charconv>
#include <cstdlib>

namespace jobq::storage::pg {

namespace {

template <class Number>
Number parse_number(std::string_view text, const char* what) {
    Number value{};
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc{} || end != text.data() + text.size())
        throw core::StorageError(std::string("the database answered a value that is not ") + what + ": " +
                                 std::string(text));
    return value;
}

}  // namespace

void Result::Clear::operator()(pg_result* r) const noexcept {
    PQclear(r);
}

Result::Result(pg_result* result) : result_(result) {}

int Result::rows() const {
    return result_ ? PQntuples(result_.get()) : 0;
}

int Result::columns() const {
    return result_ ? PQnfields(result_.get()) : 0;
}

bool Result::is_null(int row, int column) const {
    return PQgetisnull(result_.get(), row, column) != 0;
}

std::string_view Result::text(int row, int column) const {
    return {PQgetvalue(result_.get(), row, column), static_cast<std::size_t>(PQgetlength(result_.get(), row, column))};
}

std::int64_t Result::int64(int row, int column) const {
    return parse_number<std::int64_t>(text(row, column), "an integer");
}

std::optional<std::int64_t> Result::optional_int64(int row, int column) const {
    if (is_null(row, column)) return std::nullopt;
    return int64(row, column);
}

std::optional<std::string> Result::optional_text(int row, int column) const {
    if (is_null(row, column)) return std::nullopt;
    return std::string(text(row, column));
}

double Result::float64(int row, int column) const {
    // from_chars for double is in GCC 12's library; the text is PostgreSQL's
    // shortest exact form of a float8.
    return parse_number<double>(text(row, column), "a number");
}

bool Result::boolean(int row, int column) const {
    return text(row, column) == "t";
}

std::int64_t Result::affected() const {
    const std::string_view tuples = PQcmdTuples(result_.get());
    return tuples.empty() ? 0 : parse_number<std::int64_t>(tuples, "a row count");
}

int Result::status() const {
    return result_ ? PQresultStatus(result_.get()) : PGRES_EMPTY_QUERY;
}

std::string Result::sqlstate() const {
    const char* state = result_ ? PQresultErrorField(result_.get(), PG_DIAG_SQLSTATE) : nullptr;
    return state ? state : "";
}

std::string Result::error_message() const {
    const char* message = result_ ? PQresultErrorField(result_.get(), PG_DIAG_MESSAGE_PRIMARY) : nullptr;
    return message ? message : "";
}

}  // namespace jobq::storage::pg
