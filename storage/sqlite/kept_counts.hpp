#pragma once
// The kept counts (core::JobCounts) and the per-second history (core::JobHistory) in step
// with the database. The operations of a group-commit transaction note what they change
// in changes(); before COMMIT the changed counts are written to job_counts, in the same
// transaction, so the stored counts always equal a count over the jobs, after a crash
// too; after COMMIT they are applied in memory, where every reader takes them from. A
// transaction that rolls back leaves both as they were.

#include "core/job_changes.hpp"
#include "core/job_counts.hpp"
#include "core/job_history.hpp"
#include "storage/sqlite/group_commit.hpp"
#include "storage/sqlite/sqlite.hpp"

namespace jobq::storage {

class KeptCounts final : public CommitListener {
public:
    // Loads the stored counts; on the DB thread, after migration.
    explicit KeptCounts(Database& db);

    // The changes of the transaction under way: DB thread only.
    core::JobChanges& changes() { return changes_; }

    // Any thread.
    const core::JobCounts& counts() const { return counts_; }
    const core::JobHistory& history() const { return history_; }

    void before_commit(Database& db) override;
    void committed() noexcept override;
    void rolled_back() noexcept override;

private:
    core::JobChanges changes_;
    core::JobCounts counts_;
    core::JobHistory history_;
};

}  // namespace jobq::storage
