#pragma once
// Applying a settlement to its job's row, fenced by its attempt; shared by the engine's
// settlements and external workers' (sqlite_lease_store.cpp). On the writer's thread,
// inside a group-commit transaction.

#include "core/job_changes.hpp"
#include "core/job_store.hpp"
#include "storage/sqlite/sqlite.hpp"

namespace jobq::storage {

// False when fencing refused it: the job is no longer processing at that attempt (or
// the settlement names another queue and type). Notes the move in `changes`.
bool settle_row(Database& db, core::JobChanges& changes, const core::Settlement& settlement);

}  // namespace jobq::storage
