#pragma once
// What every store (SQLite, PostgreSQL) promises about its writes: the contract behind
// "a job answered 201 is never lost". core::JobStore and core::JobAdmin name the
// operations; this names what a completed one guarantees. The store contract suite
// (test/unit/store_contract) checks the part a test can observe.
//
// - Durable before it completes: enqueue and enqueue_batch (their completion is the 201),
//   the reaper and recovery (reap_expired, recover), the operator's changes (retry,
//   cancel, remove), retention (delete_expired) and the writable() probe. `--sync normal`
//   is the operator's choice to relax this to "committed": a power failure may then lose
//   the last commits.
// - Redoable: claim, settle and settle_all. Losing one in a power failure only makes jobq
//   run a job again, which at-least-once allows, so a store may complete them once
//   committed, before they are on disk.
// - In commit order: a durable operation, once complete, makes every write that completed
//   before it durable too; no redoable write is lost while a later durable one survives.
// - A crash of the jobq process loses nothing that completed, redoable or not: the commit
//   is out of the process's hands.
// - All or nothing: a write that fails throws StorageError and leaves nothing of itself
//   stored. When writes share a commit and it fails, every one of them fails; none is
//   acknowledged. Once the cause is gone (space returns), writes succeed again without a
//   restart.
// - Read after write: once a write completed, every read (get, list, counts, ...) sees it.

namespace jobq::core {

// Whether a write must be on disk before it completes (see above).
enum class Durability {
    durable,   // on disk when it completes
    redoable,  // committed when it completes; on disk with the next durable write
};

}  // namespace jobq::core
