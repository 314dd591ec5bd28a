#pragma once

#include "storage/sqlite/sqlite.hpp"

namespace jobq::storage {

// The schema version this build writes (PRAGMA user_version).
inline constexpr std::int64_t schema_version = 9;

// Creates or upgrades the schema. Throws StorageError for a database written by a newer
// jobq (its schema is unknown here, and writing to it could corrupt it).
// `now_ms`: the time of the upgrade (which waiting jobs are due).
void migrate(Database& db, std::int64_t now_ms);

}  // namespace jobq::storage
