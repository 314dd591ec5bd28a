#pragma once

#include "storage/sqlite.hpp"

namespace jobq::storage {

// The schema version this build writes (PRAGMA user_version).
inline constexpr std::int64_t schema_version = 3;

// Creates or upgrades the schema. Throws StorageError for a database written by a newer
// jobq (its schema is unknown here, and writing to it could corrupt it).
void migrate(Database& db);

}  // namespace jobq::storage
