#pragma once
// jobq's tables on PostgreSQL, in the first schema of the connection's
// search_path, and their migrations. Nodes started together migrate once: the
// migration runs under an advisory lock held for its transaction, and a node
// that waited for it finds the schema already at its version. A node refuses a
// schema newer than it knows.

#include "storage/postgres/connection.hpp"

#include <boost/asio/awaitable.hpp>

#include <cstdint>

namespace jobq::storage::pg {

inline constexpr std::int64_t schema_version = 1;

// Brings the schema to schema_version (creating it on an empty database) and
// answers the version found before. Throws core::StorageError for a newer
// schema, or when a statement fails (nothing of the migration is then kept).
boost::asio::awaitable<std::int64_t> migrate(Connection& connection);

// The advisory lock keys jobq takes, each scoped to the schema it works in (two
// deployments in two schemas of one database do not share a leader): SQL for a
// bigint key.
std::string advisory_key_sql(std::string_view purpose);

}  // namespace jobq::storage::pg
