#pragma once
// Reading stored jobs for operators: listings and the figures /stats and /metrics show.
// Every member may throw StorageError.

#include "core/error.hpp"
#include "core/job.hpp"

#include <boost/asio/awaitable.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace jobq::core {

struct JobFilter {
    std::optional<JobState> state;
    std::optional<std::string> type;
    std::optional<std::string> queue;
};

// Keyset pagination in id order: pass next_cursor back as `after` for the next page.
struct JobPage {
    std::vector<Job> jobs;
    std::optional<job_id> next_cursor;  // absent on the last page
};

struct JobCount {
    JobState state;
    std::string queue;
    std::string type;
    std::int64_t count = 0;
};

class JobReader {
public:
    virtual ~JobReader() = default;

    virtual boost::asio::awaitable<JobPage> list(JobFilter filter, std::optional<job_id> after, std::size_t limit) = 0;

    // Jobs per (state, queue, type), only for combinations that exist.
    virtual boost::asio::awaitable<std::vector<JobCount>> counts() = 0;

    // The earliest run_at among queued jobs that are due at `now` (the oldest runnable).
    virtual boost::asio::awaitable<std::optional<millis>> oldest_runnable(millis now) = 0;
};

}  // namespace jobq::core
