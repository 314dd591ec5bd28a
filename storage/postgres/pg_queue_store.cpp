// Queue settings (core::QueueSettingsStore) of PgJobStore: one row per queue whose
// settings differ from the defaults, in `queues`; the rules in memory (core::QueueRules),
// which every claim and lease reads, follow each committed change, and reload_queue_rules()
// brings in the changes other nodes made.

#include "storage/postgres/arrays.hpp"
#include "storage/postgres/pg_job_store.hpp"

namespace jobq::storage::pg {

namespace asio = boost::asio;
using core::millis;

namespace {

constexpr const char* sql_load = "SELECT name, paused, concurrency, rate_per_second, rate_burst, weight FROM queues";
// Locked: two changes of one queue, on any nodes, never lose either.
constexpr const char* sql_lock_one =
    "SELECT name, paused, concurrency, rate_per_second, rate_burst, weight FROM queues WHERE name = $1 FOR UPDATE";
constexpr const char* sql_store =
    "INSERT INTO queues (name, paused, concurrency, rate_per_second, rate_burst, weight) VALUES ($1, $2, $3, $4, $5, "
    "$6)"
    " ON CONFLICT (name) DO UPDATE SET paused = excluded.paused, concurrency = excluded.concurrency,"
    " rate_per_second = excluded.rate_per_second, rate_burst = excluded.rate_burst, weight = excluded.weight";
// Default settings leave no row: a queue named by nothing else is then forgotten.
constexpr const char* sql_forget = "DELETE FROM queues WHERE name = $1";
// A queue's oldest due job is the first of some priority level in its claim order (the
// index orders by run_at only within a queue and level): one seek per level, from the
// highest down (a skip scan, by recursion), in each of the two orders, built-in and
// external. Waiting jobs whose run_at has come are runnable too, though no claim has
// marked them due yet: a range of jobs_waiting, as short as the time since the last
// claim. Never a scan of the queue's jobs. $1 the queue, $2 now.
#define JOBQ_OLDEST_IN(kind)                                                                            \
    "(WITH RECURSIVE levels(p) AS (SELECT max(priority) FROM jobs WHERE state = 'queued' AND " kind     \
    " AND queue = $1 UNION ALL SELECT (SELECT max(priority) FROM jobs WHERE state = 'queued' AND " kind \
    " AND queue = $1 AND priority < levels.p) FROM levels WHERE levels.p IS NOT NULL)"                  \
    " SELECT min((SELECT min(run_at) FROM jobs WHERE state = 'queued' AND " kind                        \
    " AND queue = $1"                                                                                   \
    " AND priority = levels.p)) FROM levels WHERE levels.p IS NOT NULL)"
constexpr const char* sql_oldest_in_queue =
    "SELECT o FROM (SELECT least(" JOBQ_OLDEST_IN("due AND NOT external") ", " JOBQ_OLDEST_IN("due AND external")
    ", (SELECT min(run_at) FROM jobs WHERE state = 'queued' AND NOT due AND run_at <= $2 AND queue = $1)) AS o) AS q"
    " WHERE o <= $2";
#undef JOBQ_OLDEST_IN

core::QueueSettings settings_in(const Result& r, int row) {
    core::QueueSettings q;
    q.paused = r.boolean(row, 1);
    q.concurrency = r.optional_int64(row, 2);
    if (!r.is_null(row, 3)) q.rate_limit = core::RateLimit{r.float64(row, 3), r.int64(row, 4)};
    q.weight = static_cast<std::int32_t>(r.int64(row, 5));
    return q;
}

Statement store_statement(const std::string& queue, const core::QueueSettings& settings) {
    if (settings.is_default()) return Statement(sql_forget, params(queue));
    Param per_second, burst;
    if (settings.rate_limit) {
        per_second = exact_text(settings.rate_limit->per_second);
        burst = std::to_string(settings.rate_limit->burst);
    }
    return Statement(sql_store,
                     params(queue, settings.paused ? "t" : "f",
                            settings.concurrency ? Param(std::to_string(*settings.concurrency)) : std::nullopt,
                            std::move(per_second), std::move(burst), std::to_string(settings.weight)));
}

asio::awaitable<std::map<std::string, millis>> oldest_of(std::vector<std::string> queues,
                                                         asio::awaitable<std::vector<Result>> read) {
    auto results = co_await std::move(read);
    std::map<std::string, millis> oldest;
    for (std::size_t i = 0; i < queues.size(); ++i)
        if (results[i].rows() > 0) oldest.emplace(std::move(queues[i]), results[i].int64(0, 0));
    co_return oldest;
}

}  // namespace

core::QueueSettingsMap read_queue_settings(const Result& result) {
    core::QueueSettingsMap settings;
    for (int row = 0; row < result.rows(); ++row)
        settings.emplace(std::string(result.text(row, 0)), settings_in(result, row));
    return settings;
}

Statement queue_settings_statement() {
    return Statement(sql_load);
}

asio::awaitable<core::QueueSettings> PgJobStore::write_queue_settings(Transaction& tx, std::string queue,
                                                                      core::QueueSettingsPatch patch) {
    auto lock = batch(Statement(sql_lock_one, params(queue)));
    auto found = co_await tx.run(std::move(lock));
    const auto stored = found[0].rows() == 0 ? core::QueueSettings{} : settings_in(found[0], 0);
    const auto settings = patch.applied_to(stored);
    auto store = batch(store_statement(queue, settings));
    co_await tx.run(std::move(store));
    tx.notify(notice_queues);
    // A claim later in the same transaction obeys them; if it fails, update_queue() puts
    // back what is stored.
    rules_->set(queue, settings);
    co_return settings;
}

asio::awaitable<void> PgJobStore::reload_queue_rules() {
    auto statements = batch(queue_settings_statement());
    auto results = co_await read(std::move(statements));
    const auto stored = read_queue_settings(results[0]);
    for (const auto& [queue, settings] : rules_->all())
        if (!stored.contains(queue)) rules_->set(queue, core::QueueSettings{});
    for (const auto& [queue, settings] : stored) rules_->set(queue, settings);
}

asio::awaitable<core::QueueSettings> PgJobStore::change_queue(std::string queue, core::QueueSettingsPatch patch) {
    return in_transaction<core::QueueSettings>(
        [this, queue = std::move(queue), patch](Transaction& tx) { return write_queue_settings(tx, queue, patch); });
}

asio::awaitable<core::QueueSettings> PgJobStore::update_queue(std::string queue, core::QueueSettingsPatch patch) {
    std::exception_ptr failure;
    try {
        co_return co_await change_queue(std::move(queue), patch);
    } catch (...) {
        failure = std::current_exception();
    }
    try {
        co_await reload_queue_rules();
    } catch (...) {
        // The database is failing: the rules are reloaded with the next change.
    }
    std::rethrow_exception(failure);
}

core::QueueSettingsMap PgJobStore::queue_settings() const {
    return rules_->all();
}

std::vector<std::string> PgJobStore::queues_with_queued_jobs() const {
    std::vector<std::string> queues;
    counts_.counts().for_each_queue([&](std::string_view queue, const core::StateCounts& states) {
        if (states[static_cast<std::size_t>(core::JobState::queued)] > 0) queues.emplace_back(queue);
    });
    return queues;
}

asio::awaitable<std::map<std::string, millis>> PgJobStore::oldest_runnable_by_queue(millis now,
                                                                                    std::optional<std::string> only) {
    auto queues = queues_with_queued_jobs();
    if (only) std::erase_if(queues, [&](const std::string& queue) { return queue != *only; });
    // From a std::string: GCC 12 misreads a copy of the long literal as out of bounds.
    static const std::string oldest_in_queue = sql_oldest_in_queue;
    std::vector<Statement> seeks;
    for (const auto& queue : queues) seeks.push_back(Statement(oldest_in_queue, params(queue, std::to_string(now))));
    return oldest_of(std::move(queues), read(std::move(seeks)));
}

}  // namespace jobq::storage::pg
