#pragma once
// The contract suite's fixture: a fresh store of one kind, driven through core::JobStore
// and core::JobAdmin only. One helper per operation, each run to completion with a
// deadline (run_awaitable): a change of an interface's signature touches its helper here,
// not every test.
//
// JOBQ_STORE_CONTRACT_TEST(name) { body } is a test case run once for every kind in
// store_kinds() (Boost.Test data-driven: name/_0, name/_1, ...; a failure names the kind),
// the body a member of the fixture, on a fresh store of that kind.

#include "store_factory.hpp"

#include "run_awaitable.hpp"
#include "temp_dir.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/test/data/monomorphic.hpp>
#include <boost/test/data/test_case.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

namespace jobq::test::contract {

inline constexpr core::millis t0 = 1'800'000'000'000;
inline constexpr core::millis lease = 60'000;
inline constexpr core::millis lease_ms = 30'000;  // an external lease's length in these tests

inline core::JobSpec noop(core::millis run_at = t0, std::int64_t priority = 0) {
    core::JobSpec spec;
    spec.type = "noop";
    spec.payload = "{}";
    spec.run_at = run_at;
    spec.priority = priority;
    return spec;
}

// A job of an external type, handed out only by a lease.
inline core::JobSpec external(std::string type = "resize", core::millis run_at = t0) {
    auto spec = noop(run_at);
    spec.type = std::move(type);
    spec.external = true;
    return spec;
}

// Lease decisions.
inline core::LeaseDecision ack(std::optional<std::string> result = std::nullopt) {
    return [result](const core::Job&) {
        core::Settlement s;
        s.kind = core::Settlement::Kind::done;
        s.at = t0 + 1;
        s.result = result;
        return s;
    };
}
inline core::LeaseDecision fail_permanently(std::string error) {
    return [error](const core::Job&) {
        core::Settlement s;
        s.kind = core::Settlement::Kind::failed;
        s.at = t0 + 1;
        s.error = error;
        return s;
    };
}
inline core::LeaseDecision release(core::millis run_at) {
    return [run_at](const core::Job&) {
        core::Settlement s;
        s.kind = core::Settlement::Kind::released;
        s.at = t0 + 1;
        s.run_at = run_at;
        return s;
    };
}

struct StoreFixture {
    TempDir dir;
    boost::asio::io_context io;  // outlives the store, which posts results to it
    std::unique_ptr<StoreUnderTest> sut;

    void open(std::string_view kind) { sut = make_store(kind, dir.path().string()); }

    core::JobStore& store() { return sut->store(); }
    core::JobAdmin& admin() { return sut->admin(); }
    core::LeaseStore& leases() { return sut->leases(); }
    core::ScheduleStore& schedules() { return sut->schedules(); }

    template <class T>
    T finish(boost::asio::awaitable<T> task) {
        return run_awaitable(io, std::move(task));
    }

    // core::JobStore
    core::EnqueueResult enqueue_result(core::JobSpec spec) { return finish(store().enqueue(std::move(spec))); }
    core::job_id enqueue(core::JobSpec spec) { return enqueue_result(std::move(spec)).job.id; }
    std::optional<core::Job> find(core::job_id id) { return finish(store().get(id)); }
    core::Job get(core::job_id id) { return find(id).value(); }
    // Leases until now + lease.
    std::vector<core::Job> claim(std::size_t max, core::millis now = t0) {
        return finish(store().claim({max, now, now + lease, {}, {}}));
    }
    // Only jobs of these types and queues (empty: any).
    std::vector<core::Job> claim_only(std::size_t max, std::vector<std::string> types, std::vector<std::string> queues,
                                      core::millis now = t0) {
        return finish(store().claim({max, now, now + lease, std::move(types), std::move(queues)}));
    }
    // True when recorded; a refusal must be lease_lost.
    bool settle(core::Settlement settlement) {
        const auto recorded = finish(store().settle(std::move(settlement)));
        if (!recorded) BOOST_TEST((recorded.error().code == core::errc::lease_lost));
        return recorded.has_value();
    }
    std::vector<bool> settle_all(std::vector<core::Settlement> settlements) {
        return finish(store().settle_all(std::move(settlements)));
    }
    std::optional<core::millis> next_run_at() { return finish(store().next_run_at()); }
    std::optional<core::millis> next_lease_expiry() { return finish(store().next_lease_expiry()); }
    core::RecoveryReport reap_expired(core::millis now) { return finish(store().reap_expired(now)); }
    core::RecoveryReport recover(core::millis now) { return finish(store().recover(now)); }

    // core::JobAdmin
    std::vector<core::EnqueueResult> enqueue_batch(std::vector<core::JobSpec> specs) {
        return finish(store().enqueue_batch(std::move(specs)));
    }
    core::JobPage list(core::JobFilter filter, std::optional<core::job_id> after, std::size_t limit) {
        return finish(admin().list(std::move(filter), after, limit));
    }
    core::JobChange retry(core::job_id id, core::millis now) { return finish(admin().retry(id, now)); }
    core::JobChange cancel(core::job_id id, core::millis now) { return finish(admin().cancel(id, now)); }
    core::JobChange remove(core::job_id id) { return finish(admin().remove(id)); }
    std::vector<core::JobCount> counts() { return admin().counts(); }
    std::optional<core::millis> oldest_runnable(core::millis now) { return finish(admin().oldest_runnable(now)); }
    std::size_t delete_expired(std::optional<core::millis> finished_before, std::optional<core::millis> failed_before,
                               std::size_t limit) {
        return finish(admin().delete_expired(finished_before, failed_before, limit));
    }
    bool writable() { return finish(admin().writable()); }

    // core::LeaseStore
    std::vector<core::LeasedJob> lease_jobs(std::size_t max, core::millis now = t0, std::vector<std::string> types = {},
                                       std::optional<std::string> worker = "w1") {
        return finish(leases().lease({max, now, now + lease_ms, std::move(types), {}, std::move(worker)}));
    }
    core::Result<core::Job> settle_lease(core::job_id id, std::string token, core::LeaseDecision decide) {
        return finish(leases().settle_lease({id, std::move(token), std::move(decide)}));
    }
    core::Result<core::millis> extend_lease(core::job_id id, std::string token, core::millis until) {
        return finish(leases().extend_lease(id, std::move(token), until));
    }

    // The factory's hooks (StoreUnderTest)
    void reopen() { sut->reopen(); }
    std::int64_t attempt_records(core::job_id id) { return finish(sut->attempt_records(id)); }
    void set_full(bool full) { finish(sut->set_full(full)); }
    std::vector<core::JobCount> counted_over_jobs() { return finish(sut->counted_over_jobs()); }
};

}  // namespace jobq::test::contract

#define JOBQ_STORE_CONTRACT_TEST(test_name) JOBQ_STORE_CONTRACT_TEST_OF(::jobq::test::store_kinds, test_name)

// The same, for the kinds `kinds()` answers.
#define JOBQ_STORE_CONTRACT_TEST_OF(kinds, test_name)                                                        \
    struct test_name##_contract : ::jobq::test::contract::StoreFixture {                                   \
        void test_body();                                                                                   \
    };                                                                                                      \
    BOOST_DATA_TEST_CASE(test_name, ::boost::unit_test::data::make(kinds()), kind) {                       \
        test_name##_contract fixture;                                                                       \
        fixture.open(kind);                                                                                 \
        fixture.test_body();                                                                                \
    }                                                                                                       \
    void test_name##_contract::test_body()
