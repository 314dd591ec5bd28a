#pragma once
// The stores the contract suite runs against: every kind in store_kinds() must pass every
// contract test (job_store_contract, job_admin_contract), each on a fresh store of its own.
// Adding a store is a make_<kind>_store beside make_sqlite_store and one more kind in
// store_factory.cpp.

#include "core/job.hpp"
#include "core/job_admin.hpp"
#include "core/job_store.hpp"
#include "core/lease_store.hpp"
#include "core/schedule_store.hpp"

#include <boost/asio/awaitable.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace jobq::test {

// One store, open on its own empty database. Contract tests reach it through store() and
// admin() only; the hooks below stand in for what no core interface shows (yet), each kept
// to what a test must observe or arrange. Not thread-safe: one test drives it; the
// awaitables complete on the awaiting coroutine's executor, like the store's own.
class StoreUnderTest {
public:
    virtual ~StoreUnderTest() = default;

    virtual core::JobStore& store() = 0;
    virtual core::JobAdmin& admin() = 0;
    virtual core::LeaseStore& leases() = 0;
    virtual core::ScheduleStore& schedules() = 0;
    virtual std::string name() const = 0;

    // Closes the store and opens it again on the same data, as a restart of the server
    // does. References from store() and admin() taken before are invalid after it.
    virtual void reopen() = 0;

    // How many attempt records (the history of a job's runs) the store keeps for `id`.
    virtual boost::asio::awaitable<std::int64_t> attempt_records(core::job_id id) = 0;

    // Jobs per (state, queue, type) counted over the stored jobs themselves (a GROUP BY):
    // what the store's kept counts must always equal.
    virtual boost::asio::awaitable<std::vector<core::JobCount>> counted_over_jobs() = 0;

    // full: from now on no write that needs more room fits, as on a full disk (it fails
    // with StorageError); !full: room again.
    virtual boost::asio::awaitable<void> set_full(bool full) = 0;
};

// Every kind of store the contract suite runs against: {"sqlite", "postgres"}.
std::vector<std::string> store_kinds();

// A fresh store of `kind` keeping whatever files it has under `dir`, an empty directory
// that outlives it. Throws std::invalid_argument for a kind it does not know.
std::unique_ptr<StoreUnderTest> make_store(std::string_view kind, const std::string& dir);

// Each kind's factory (sqlite_store_factory.cpp, ...).
std::unique_ptr<StoreUnderTest> make_sqlite_store(const std::string& dir);
// On the test cluster (test/support/postgres.hpp), in a schema of its own; `dir` unused.
std::unique_ptr<StoreUnderTest> make_postgres_store(const std::string& dir);

}  // namespace jobq::test
