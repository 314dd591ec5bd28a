#pragma once
// PostgreSQL array literals ('{"a","b",NULL}'), for statements that take a
// whole batch as arrays and unnest them: one statement, one plan, whatever the
// batch's size.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace jobq::storage::pg {

// Every element quoted (backslash and double quote escaped): any text
// round-trips.
std::string text_array(const std::vector<std::string>& values);
std::string text_array(const std::vector<std::optional<std::string>>& values);  // nullopt: NULL
std::string int_array(const std::vector<std::int64_t>& values);
std::string bool_array(const std::vector<bool>& values);

// A double as text PostgreSQL reads back to the same value (17 significant digits).
std::string exact_text(double value);

}  // namespace jobq::storage::pg
