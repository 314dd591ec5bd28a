#include "storage/postgres/group_commit.hpp"

#include "core/clock.hpp"
#include "core/log.hpp"
#include "storage/postgres/arrays.hpp"
#include "storage/postgres/job_rows.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>

#include <algorithm>
#include <optional>

namespace jobq::storage::pg {

namespace asio = boost::asio;

namespace {

constexpr const char* sql_add_counts =
    "INSERT INTO job_counts (node, queue, type, state, n) SELECT $1, queue, type, state, n FROM unnest($2::text[], "
    "$3::text[], $4::text[], $5::bigint[]) AS c(queue, type, state, n) ON CONFLICT (node, queue, type, state) DO "
    "UPDATE SET n = job_counts.n + excluded.n";

constexpr const char* sql_read_counts =
    "SELECT state, queue, type, sum(n)::bigint FROM job_counts GROUP BY state, queue, type HAVING sum(n) <> 0";

// This node's share of the changes, as one statement (nullopt: none).
std::optional<Statement> add_counts(const std::string& node, const core::JobChanges& changes) {
    std::vector<std::string> queues, types, states;
    std::vector<std::int64_t> deltas;
    for (const auto& moves : changes.moves()) {
        for (std::size_t i = 0; i < core::job_state_count; ++i) {
            if (moves.delta[i] == 0) continue;
            queues.push_back(moves.queue);
            types.push_back(moves.type);
            states.emplace_back(core::to_string(static_cast<core::JobState>(i)));
            deltas.push_back(moves.delta[i]);
        }
    }
    if (deltas.empty()) return std::nullopt;
    return Statement{sql_add_counts,
                     {node, text_array(queues), text_array(types), text_array(states), int_array(deltas)}};
}

// A deadlock with another node's transaction (40P01), a serialization failure (40001) or
// a lock not granted in time (55P03): nothing of the batch was stored, and trying again is
// likely to work.
bool meets_another_node(const std::exception_ptr& error) {
    try {
        std::rethrow_exception(error);
    } catch (const StatementError& e) {
        return e.sqlstate() == "40P01" || e.sqlstate() == "40001" || e.sqlstate() == "55P03";
    } catch (...) {
        return false;
    }
}

// What the callers get: a StorageError (503: nothing was stored), whatever failed.
std::exception_ptr as_storage_error(std::exception_ptr error) {
    if (!error) return error;
    try {
        std::rethrow_exception(error);
    } catch (const core::StorageError&) {
        return error;
    } catch (const std::exception& e) {
        return std::make_exception_ptr(core::StorageError(e.what()));
    } catch (...) {
        return std::make_exception_ptr(core::StorageError("unknown failure in a write transaction"));
    }
}

bool became_queued(const core::JobChanges& changes) {
    const auto queued = static_cast<std::size_t>(core::JobState::queued);
    return std::any_of(changes.moves().begin(), changes.moves().end(),
                       [queued](const core::JobChanges::Moves& m) { return m.delta[queued] > 0; });
}

// Delivered at commit, and not at all if the transaction rolls back.
Statement notify_statement(std::string what) {
    return Statement(std::string("SELECT pg_notify(") + channel_sql + ", $1)", params(std::move(what)));
}

}  // namespace

Statement read_counts_statement() {
    return {sql_read_counts};
}

std::vector<core::JobCount> read_counts(const Result& result) {
    std::vector<core::JobCount> counts;
    counts.reserve(static_cast<std::size_t>(result.rows()));
    for (int row = 0; row < result.rows(); ++row) {
        const auto state = core::parse_job_state(result.text(row, 0));
        if (!state) throw core::StorageError("job_counts holds an unknown state: " + std::string(result.text(row, 0)));
        counts.push_back(
            {*state, std::string(result.text(row, 1)), std::string(result.text(row, 2)), result.int64(row, 3)});
    }
    return counts;
}

asio::awaitable<std::vector<Result>> Transaction::run(std::vector<Statement> statements) {
    std::size_t prefix = 0;
    if (!begun_) {
        begun_ = true;
        auto begin = batch(Statement("BEGIN"));
        // Redoable work only: losing it in a power failure only runs a job again.
        if (relaxed_) begin.push_back(Statement("SET LOCAL synchronous_commit = off"));
        prefix = begin.size();
        statements.insert(statements.begin(), std::make_move_iterator(begin.begin()),
                          std::make_move_iterator(begin.end()));
    }
    auto results = co_await connection_.run(std::move(statements), timeout_);
    results.erase(results.begin(), results.begin() + static_cast<std::ptrdiff_t>(prefix));
    co_return results;
}

asio::awaitable<std::vector<core::JobCount>> Transaction::commit(const std::string& node) {
    std::vector<Statement> statements;
    if (auto counts = add_counts(node, changes_)) statements.push_back(std::move(*counts));
    if (became_queued(changes_)) notices_.push_back(notice_jobs);
    for (auto& notice : notices_) statements.push_back(notify_statement(std::move(notice)));
    if (begun_) statements.push_back({"COMMIT"});
    statements.push_back(read_counts_statement());
    auto results = co_await connection_.run(std::move(statements), timeout_);
    co_return read_counts(results.back());
}

GroupCommit::GroupCommit(ConnectionPool& pool, std::string node, SharedCounts& counts, core::JobHistory& history,
                         core::Metrics* metrics,
                         std::chrono::milliseconds statement_timeout)
    : pool_(pool),
      node_(std::move(node)),
      counts_(counts),
      history_(history),
      metrics_(metrics),
      timeout_(statement_timeout) {}

GroupCommit::~GroupCommit() = default;

asio::awaitable<std::vector<core::EnqueueResult>> GroupCommit::enqueue(std::vector<core::JobSpec> specs) {
    return asio::async_initiate<const asio::use_awaitable_t<>&,
                                void(std::exception_ptr, std::vector<core::EnqueueResult>)>(
        EnqueueInitiation{this}, asio::use_awaitable, std::move(specs));
}

void GroupCommit::submit(Pending pending) {
    bool start_writer = false;
    {
        const std::lock_guard lock(queue_->mutex);
        queue_->pending.push_back(std::move(pending));
        start_writer = !std::exchange(queue_->writing, true);
    }
    // One writer at a time: operations arriving while it commits share the next
    // batch.
    if (start_writer) asio::co_spawn(pool_.executor(), write_all(this, queue_), asio::detached);
}

asio::awaitable<void> GroupCommit::write_all(GroupCommit* self, std::shared_ptr<Queue> queue) {
    for (;;) {
        std::vector<Pending> batch;
        {
            const std::lock_guard lock(queue->mutex);
            batch.swap(queue->pending);
            if (batch.empty()) {
                queue->writing = false;
                co_return;  // touching nothing of `self`: its owner may be gone
            }
        }
        auto error = co_await self->write(batch);
        deliver(std::move(batch), error);
    }
}

asio::awaitable<std::exception_ptr> GroupCommit::write(std::vector<Pending>& batch) {
    const auto started = std::chrono::steady_clock::now();
    auto error = co_await write_once(batch);
    if (error && meets_another_node(error)) {
        // Rolled back whole: every operation applies again, in a transaction of its own.
        core::log::warn("a write met another node's in a deadlock or a lock wait; applying it again");
        error = co_await write_once(batch);
    }
    if (metrics_) {
        const auto took = std::chrono::steady_clock::now() - started;
        metrics_->db_commit_batch_size.observe(batch.size());
        metrics_->db_commit_duration.observe(
            static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(took).count()));
    }
    co_return as_storage_error(error);
}

asio::awaitable<std::exception_ptr> GroupCommit::write_once(std::vector<Pending>& batch) {
    const bool relaxed =
        std::all_of(batch.begin(), batch.end(), [](const Pending& p) { return p->durability == Durability::redoable; });
    std::optional<ConnectionPool::Lease> connection;
    std::exception_ptr error;
    try {
        connection.emplace(co_await pool_.acquire());
        Transaction tx(**connection, relaxed, timeout_);
        co_await apply_enqueues(tx, batch);
        for (auto& op : batch)
            if (!op->enqueued()) co_await op->apply(tx);
        auto counts = co_await tx.commit(node_);
        counts_.apply(counts, counts_.ticket());
        try {
            history_.record(tx.changes(), core::system_now_ms() / 1000);
        } catch (const std::bad_alloc&) {
            // A queue's series could not be allocated: the history misses these
            // events.
        }
    } catch (...) {
        error = std::current_exception();
    }
    // A failure of ours (not the server's, which rolls back itself) may leave the
    // transaction open: the connection goes back to the pool without it.
    if (error && connection && !(*connection)->broken()) {
        try {
            auto rollback = pg::batch(Statement("ROLLBACK"));
            co_await (*connection)->run(std::move(rollback), timeout_);
        } catch (...) {
            // The connection is closed by now: the server rolls back.
        }
    }
    co_return error;
}

asio::awaitable<void> GroupCommit::apply_enqueues(Transaction& tx, std::vector<Pending>& batch) {
    std::vector<core::JobSpec> specs;
    for (auto& op : batch)
        if (auto* mine = op->enqueued()) specs.insert(specs.end(), mine->begin(), mine->end());
    if (specs.empty()) co_return;
    auto results = co_await insert_jobs(tx, std::move(specs), core::system_now_ms());
    std::size_t next = 0;
    for (auto& op : batch) {
        auto* mine = op->enqueued();
        if (!mine) continue;
        std::vector<core::EnqueueResult> own(
            std::make_move_iterator(results.begin() + static_cast<std::ptrdiff_t>(next)),
            std::make_move_iterator(results.begin() + static_cast<std::ptrdiff_t>(next + mine->size())));
        next += mine->size();
        op->enqueue_results(std::move(own));
    }
}

void GroupCommit::deliver(std::vector<Pending> batch, std::exception_ptr error) {
    for (auto& op : batch) {
        auto executor = op->executor;
        asio::post(executor, [op = std::move(op), error]() mutable { op->complete(error); });
    }
}

}  // namespace jobq::storage::pg
