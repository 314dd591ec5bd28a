// The contract suite's PostgreSQL store: storage::pg::PgJobStore in a schema of
// its own on the test cluster (test/support/postgres.hpp), on an io_context
// with a thread of its own, as the server runs it beside its other work.

#include "store_factory.hpp"

#include "postgres.hpp"
#include "storage/postgres/pg_job_store.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include <thread>

namespace jobq::test {

namespace {

namespace asio = boost::asio;
using storage::pg::Result;
using storage::pg::Statement;

asio::awaitable<std::int64_t> count_attempts(storage::pg::PgJobStore& store, core::job_id id) {
    auto results =
        co_await store.pool().run(storage::pg::batch(Statement("SELECT count(*) FROM job_attempts WHERE job_id = $1",
                                                               storage::pg::params(std::to_string(id)))),
                                  std::chrono::seconds(10));
    co_return results[0].int64(0, 0);
}

asio::awaitable<std::vector<core::JobCount>> group_by(storage::pg::PgJobStore& store) {
    auto results = co_await store.pool().run(
        storage::pg::batch(Statement("SELECT state, queue, type, count(*) FROM jobs GROUP BY state, queue, type")),
        std::chrono::seconds(10));
    std::vector<core::JobCount> counts;
    const Result& r = results[0];
    for (int row = 0; row < r.rows(); ++row)
        counts.push_back({core::parse_job_state(r.text(row, 0)).value(), std::string(r.text(row, 1)),
                          std::string(r.text(row, 2)), r.int64(row, 3)});
    co_return counts;
}

// A full disk, as far as a test can tell: every insert of a job or an attempt
// record fails as PostgreSQL fails one that cannot extend its file (SQLSTATE
// 53100).
constexpr const char* sql_fill_disk[] = {
    "CREATE OR REPLACE FUNCTION disk_full() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'could not "
    "extend file: No space left on device' USING ERRCODE = '53100'; END $$",
    "CREATE TRIGGER disk_full BEFORE INSERT ON jobs FOR EACH STATEMENT EXECUTE FUNCTION disk_full()",
    "CREATE TRIGGER disk_full BEFORE INSERT ON job_attempts FOR EACH STATEMENT EXECUTE FUNCTION disk_full()",
};
constexpr const char* sql_free_disk[] = {
    "DROP TRIGGER IF EXISTS disk_full ON jobs",
    "DROP TRIGGER IF EXISTS disk_full ON job_attempts",
};

class PostgresStoreUnderTest final : public StoreUnderTest {
public:
    PostgresStoreUnderTest() : work_(io_.get_executor()), thread_([this] { io_.run(); }) {
        try {
            open();
        } catch (...) {
            stop();
            throw;
        }
    }
    ~PostgresStoreUnderTest() override {
        store_.reset();
        stop();
    }

    core::JobStore& store() override { return *store_; }
    core::JobAdmin& admin() override { return *store_; }
    core::LeaseStore& leases() override { return *store_; }
    core::ScheduleStore& schedules() override { return *store_; }
    std::string name() const override { return "postgres"; }

    void reopen() override {
        store_.reset();
        open();
    }

    asio::awaitable<std::int64_t> attempt_records(core::job_id id) override { return count_attempts(*store_, id); }
    asio::awaitable<std::vector<core::JobCount>> counted_over_jobs() override { return group_by(*store_); }

    asio::awaitable<void> set_full(bool full) override {
        if (full) {
            for (const char* sql : sql_fill_disk) postgres_exec(schema_.conninfo(), sql);
        } else {
            for (const char* sql : sql_free_disk) postgres_exec(schema_.conninfo(), sql);
        }
        return nothing();
    }

private:
    static asio::awaitable<void> nothing() { co_return; }

    void open() {
        storage::pg::PgStoreOptions options;
        options.conninfo = schema_.conninfo();
        options.node = "contract";
        store_ =
            asio::co_spawn(io_, storage::pg::PgJobStore::open(io_.get_executor(), std::move(options)), asio::use_future)
                .get();
    }

    void stop() {
        work_.reset();
        thread_.join();
    }

    TestSchema schema_;
    asio::io_context io_;
    asio::executor_work_guard<asio::io_context::executor_type> work_;
    std::thread thread_;
    std::unique_ptr<storage::pg::PgJobStore> store_;
};

}  // namespace

std::unique_ptr<StoreUnderTest> make_postgres_store(const std::string&) {
    return std::make_unique<PostgresStoreUnderTest>();
}

}  // namespace jobq::test
