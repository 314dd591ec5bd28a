// The contract suite's SQLite store: storage::SqliteJobStore on a file in the test's
// directory, with synchronous=FULL as the server's default.

#include "store_factory.hpp"

#include "storage/sqlite/sqlite.hpp"
#include "storage/sqlite/sqlite_job_store.hpp"

namespace jobq::test {

namespace {

namespace asio = boost::asio;

std::int64_t count_attempts(storage::Database& db, core::job_id id) {
    auto s = db.cached("SELECT COUNT(*) FROM job_attempts WHERE job_id = ?1");
    s->bind(1, id);
    s->step();
    return s->column_int64(0);
}

std::vector<core::JobCount> group_by(storage::Database& db) {
    std::vector<core::JobCount> counts;
    auto s = db.cached("SELECT state, queue, type, COUNT(*) FROM jobs GROUP BY state, queue, type");
    while (s->step())
        counts.push_back({core::parse_job_state(s->column_text(0)).value(), s->column_text(1), s->column_text(2),
                          s->column_int64(3)});
    return counts;
}

// PRAGMA max_page_count = 1 clamps to the pages the file has now: a write needing one
// more fails with SQLITE_FULL, as on a full disk.
int no_room(storage::Database& db) {
    db.exec("PRAGMA max_page_count = 1");
    return 0;
}

int room_again(storage::Database& db) {
    db.exec("PRAGMA max_page_count = 1073741823");
    return 0;
}

asio::awaitable<void> discard(asio::awaitable<int> task) {
    co_await std::move(task);
}

class SqliteStoreUnderTest final : public StoreUnderTest {
public:
    explicit SqliteStoreUnderTest(const std::string& dir) : path_(dir + "/jobs.db") { open(); }

    core::JobStore& store() override { return *store_; }
    core::JobAdmin& admin() override { return *store_; }
    core::LeaseStore& leases() override { return *store_; }
    core::ScheduleStore& schedules() override { return *store_; }
    std::string name() const override { return "sqlite"; }

    void reopen() override {
        store_.reset();  // closes the database and releases the file before it opens again
        open();
    }

    asio::awaitable<std::int64_t> attempt_records(core::job_id id) override {
        return store_->on_db_thread<std::int64_t>([id](storage::Database& db) { return count_attempts(db, id); });
    }

    asio::awaitable<std::vector<core::JobCount>> counted_over_jobs() override {
        return store_->on_db_thread<std::vector<core::JobCount>>(group_by);
    }

    asio::awaitable<void> set_full(bool full) override {
        return discard(store_->on_db_thread<int>(full ? no_room : room_again));
    }

private:
    void open() {
        store_ = std::make_unique<storage::SqliteJobStore>(storage::StoreOptions{path_, storage::Synchronous::full});
    }

    std::string path_;
    std::unique_ptr<storage::SqliteJobStore> store_;
};

}  // namespace

std::unique_ptr<StoreUnderTest> make_sqlite_store(const std::string& dir) {
    return std::make_unique<SqliteStoreUnderTest>(dir);
}

}  // namespace jobq::test
