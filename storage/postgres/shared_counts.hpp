#pragma once
// The job counts of every node (summed over their rows of job_counts), as this node last
// read them: after each of its commits, and from time to time for the other nodes'
// changes. Reads complete out of order (on different connections); each takes a ticket,
// and a read is applied only if it is newer than the one applied last, so an older
// snapshot never replaces a newer one. Thread-safe.

#include "core/job_counts.hpp"

#include <atomic>
#include <cstdint>
#include <mutex>
#include <vector>

namespace jobq::storage::pg {

class SharedCounts {
public:
    // Taken before sending a read (or, for a read sent with a commit, after the commit's
    // answer: its snapshot is the commit's or later).
    std::uint64_t ticket() { return issued_.fetch_add(1) + 1; }

    // The counts a read with `ticket` found; ignored if a newer read was applied already.
    void apply(const std::vector<core::JobCount>& counts, std::uint64_t ticket) {
        const std::lock_guard lock(mutex_);
        if (ticket <= applied_) return;
        counts_.reset(counts);
        applied_ = ticket;
    }

    const core::JobCounts& counts() const { return counts_; }

private:
    std::atomic<std::uint64_t> issued_{0};
    std::mutex mutex_;
    std::uint64_t applied_ = 0;  // guarded by mutex_
    core::JobCounts counts_;
};

}  // namespace jobq::storage::pg
