#include "storage/sqlite/kept_counts.hpp"

#include "core/clock.hpp"

#include <new>

namespace jobq::storage {

namespace {

constexpr std::string_view sql_load = "SELECT queue, type, state, count FROM job_counts";
// Written as the new total, taken from the counts in memory (which equal the stored ones
// between transactions): a row never holds a zero.
constexpr std::string_view sql_store =
    "INSERT INTO job_counts (queue, type, state, count) VALUES (?1, ?2, ?3, ?4) "
    "ON CONFLICT (queue, type, state) DO UPDATE SET count = excluded.count";
constexpr std::string_view sql_forget = "DELETE FROM job_counts WHERE queue = ?1 AND type = ?2 AND state = ?3";

std::vector<core::JobCount> load(Database& db) {
    std::vector<core::JobCount> counts;
    auto s = db.cached(sql_load);
    while (s->step()) {
        const auto state = core::parse_job_state(s->column_text(2));
        if (!state) throw core::StorageError("job_counts holds an unknown state: " + s->column_text(2));
        counts.push_back({*state, s->column_text(0), s->column_text(1), s->column_int64(3)});
    }
    return counts;
}

}  // namespace

KeptCounts::KeptCounts(Database& db) { counts_.reset(load(db)); }

void KeptCounts::before_commit(Database& db) {
    for (const auto& moves : changes_.moves()) {
        const auto before = counts_.of(moves.queue, moves.type);
        for (std::size_t i = 0; i < core::job_state_count; ++i) {
            if (moves.delta[i] == 0) continue;
            const auto state = core::to_string(static_cast<core::JobState>(i));
            const std::int64_t total = before[i] + moves.delta[i];
            if (total == 0) {
                db.cached(sql_forget)->bind(1, moves.queue).bind(2, moves.type).bind(3, state).run();
            } else {
                db.cached(sql_store)->bind(1, moves.queue).bind(2, moves.type).bind(3, state).bind(4, total).run();
            }
        }
    }
}

void KeptCounts::committed() noexcept {
    counts_.apply(changes_);
    try {
        history_.record(changes_, core::system_now_ms() / 1000);
    } catch (const std::bad_alloc&) {
        // A queue's series could not be allocated: the history misses this transaction's
        // events, which is not worth the process.
    }
    changes_.clear();
}

void KeptCounts::rolled_back() noexcept { changes_.clear(); }

}  // namespace jobq::storage
