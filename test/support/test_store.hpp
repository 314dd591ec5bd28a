#pragma once
// Which store the server-level tests run against: SQLite by default, PostgreSQL when
// JOBQ_TEST_STORE=postgres (the integration suite runs once on each). A test names its
// database by a file path either way; on PostgreSQL each path stands for a schema of its
// own on the test cluster (test/support/postgres.hpp), the same schema for the same path
// for the whole run, so a server restarted on a path finds its data again.

#include <optional>
#include <string>
#include <vector>

namespace jobq::test {

bool testing_on_postgres();

// What --db gets for the database `db_path` names: a postgresql:// URI stays as it is.
std::string database_argument(const std::string& db_path);
// Whether the database `db_path` names is on PostgreSQL (a URI, or JOBQ_TEST_STORE).
bool on_postgres(const std::string& db_path);

// The rows of a query on that database (NULL: nullopt), read beside a running server.
using Row = std::vector<std::optional<std::string>>;
std::vector<Row> query_database(const std::string& db_path, const std::string& sql);

// The schema version the database records (0: none yet), and a way to set it, as a newer
// jobq would have left it.
std::int64_t stored_schema_version(const std::string& db_path);
void store_schema_version(const std::string& db_path, std::int64_t version);

}  // namespace jobq::test
