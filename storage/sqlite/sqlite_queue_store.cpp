// Queue settings (core::QueueSettingsStore) of SqliteJobStore: one row per queue whose
// settings differ from the defaults, in `queues` (schema v8); the rules in memory
// (core::QueueRules), which every claim and lease reads, follow each committed change.

#include "storage/sqlite/job_rows.hpp"
#include "storage/sqlite/sqlite_job_store.hpp"

namespace jobq::storage {

using core::millis;

namespace {

constexpr std::string_view sql_load =
    "SELECT name, paused, concurrency, rate_per_second, rate_burst, weight FROM queues";
constexpr std::string_view sql_load_one =
    "SELECT name, paused, concurrency, rate_per_second, rate_burst, weight FROM queues WHERE name = ?1";
constexpr std::string_view sql_store =
    "INSERT INTO queues (name, paused, concurrency, rate_per_second, rate_burst, weight) VALUES (?1, ?2, ?3, ?4, ?5, ?6) "
    "ON CONFLICT (name) DO UPDATE SET paused = excluded.paused, concurrency = excluded.concurrency, "
    "rate_per_second = excluded.rate_per_second, rate_burst = excluded.rate_burst, weight = excluded.weight";
// Default settings leave no row: a queue named by nothing else is then forgotten.
constexpr std::string_view sql_forget = "DELETE FROM queues WHERE name = ?1";

void store_settings(Database& db, const std::string& queue, const core::QueueSettings& settings) {
    if (settings.is_default()) {
        db.cached(sql_forget)->bind(1, queue).run();
        return;
    }
    auto s = db.cached(sql_store);
    s->bind(1, queue).bind(2, std::int64_t{settings.paused}).bind(3, settings.concurrency);
    if (settings.rate_limit) s->bind_double(4, settings.rate_limit->per_second).bind(5, settings.rate_limit->burst);
    else s->bind_null(4).bind_null(5);
    s->bind(6, std::int64_t{settings.weight});
    s->run();
}

core::QueueSettings read_settings(const Statement& s) {
    core::QueueSettings q;
    q.paused = s.column_int64(1) != 0;
    q.concurrency = s.column_optional_int64(2);
    if (!s.column_is_null(3)) q.rate_limit = core::RateLimit{s.column_double(3), s.column_int64(4)};
    q.weight = static_cast<std::int32_t>(s.column_int64(5));
    return q;
}

// As stored (defaults when no row): what a change applies to. Read from the table, not the
// rules in memory, which a transaction that failed may have changed until they are reloaded.
core::QueueSettings stored_settings(Database& db, const std::string& queue) {
    auto s = db.cached(sql_load_one);
    s->bind(1, queue);
    return s->step() ? read_settings(*s) : core::QueueSettings{};
}

}  // namespace

core::QueueSettingsMap SqliteJobStore::load_queue_settings(Database& db) {
    core::QueueSettingsMap settings;
    auto s = db.cached(sql_load);
    while (s->step()) settings.emplace(s->column_text(0), read_settings(*s));
    return settings;
}

std::vector<std::string> SqliteJobStore::queues_with_queued_jobs() const {
    std::vector<std::string> queues;
    kept_->counts().for_each_queue([&](std::string_view queue, const core::StateCounts& states) {
        if (states[static_cast<std::size_t>(core::JobState::queued)] > 0) queues.emplace_back(queue);
    });
    return queues;
}

boost::asio::awaitable<core::QueueSettings> SqliteJobStore::write_queue_settings(std::string queue,
                                                                                  core::QueueSettingsPatch patch) {
    // Read, changed and written in one transaction, so two changes of one queue never lose
    // either. The rules change with the row: a claim later in the same transaction obeys
    // them, and if the transaction fails, update_queue() puts back what is stored.
    return in_transaction<core::QueueSettings>([this, queue = std::move(queue), patch](Database& db, core::JobChanges&) {
        const auto settings = patch.applied_to(stored_settings(db, queue));
        store_settings(db, queue, settings);
        rules_->set(queue, settings);
        return settings;
    });
}

boost::asio::awaitable<int> SqliteJobStore::reload_queue_rules() {
    return on_db_thread<int>([this](Database& db) {
        const auto stored = load_queue_settings(db);
        for (const auto& [queue, settings] : rules_->all())
            if (!stored.contains(queue)) rules_->set(queue, core::QueueSettings{});
        for (const auto& [queue, settings] : stored) rules_->set(queue, settings);
        return 0;
    });
}

boost::asio::awaitable<core::QueueSettings> SqliteJobStore::update_queue(std::string queue,
                                                                          core::QueueSettingsPatch patch) {
    std::exception_ptr failure;
    try {
        co_return co_await write_queue_settings(std::move(queue), patch);
    } catch (...) {
        failure = std::current_exception();
    }
    co_await reload_queue_rules();
    std::rethrow_exception(failure);
}

core::QueueSettingsMap SqliteJobStore::queue_settings() const { return rules_->all(); }

boost::asio::awaitable<std::map<std::string, millis>> SqliteJobStore::oldest_runnable_by_queue(
    millis now, std::optional<std::string> only) {
    auto queues = queues_with_queued_jobs();
    if (only) std::erase_if(queues, [&](const std::string& queue) { return queue != *only; });
    return read<std::map<std::string, millis>>([now, queues = std::move(queues), only = std::move(only)](Database& db) {
        return storage::oldest_runnable_by_queue(db, queues, now, only);
    });
}

}  // namespace jobq::storage
