#include "core/engine.hpp"

#include "handlers/noop.hpp"
#include "storage/sqlite/sqlite_job_store.hpp"
#include "temp_dir.hpp"
#include "wait.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <stdexcept>
#include <thread>

using namespace jobq;
using core::Job;
using core::JobSpec;
using core::JobState;
namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {

// A fault none of the engine's loops expects: neither a StorageError nor a std::exception.
struct NotAnException {};

// The real store, with one injected failure per armed operation: the operation throws
// instead of reaching the store, once.
class FaultyStore final : public core::JobStore {
public:
    explicit FaultyStore(core::JobStore& inner) : inner_(inner) {}

    std::atomic<int> fail_claim{0}, fail_next_run_at{0}, fail_reap{0}, fail_settle{0};
    std::atomic<int> failures{0};  // injected so far

    asio::awaitable<core::EnqueueResult> enqueue(JobSpec spec) override { return inner_.enqueue(std::move(spec)); }
    asio::awaitable<std::vector<core::EnqueueResult>> enqueue_batch(std::vector<JobSpec> specs) override {
        return inner_.enqueue_batch(std::move(specs));
    }
    asio::awaitable<std::optional<Job>> get(core::job_id id) override { return inner_.get(id); }
    asio::awaitable<std::vector<Job>> claim(core::ClaimRequest request) override {
        trip(fail_claim);
        return inner_.claim(std::move(request));
    }
    asio::awaitable<core::Result<void>> settle(core::Settlement settlement) override {
        return inner_.settle(std::move(settlement));
    }
    asio::awaitable<std::vector<bool>> settle_all(std::vector<core::Settlement> settlements) override {
        if (fail_settle.exchange(0) > 0) {
            ++failures;
            throw NotAnException{};
        }
        return inner_.settle_all(std::move(settlements));
    }
    asio::awaitable<std::optional<core::millis>> next_run_at() override {
        trip(fail_next_run_at);
        return inner_.next_run_at();
    }
    asio::awaitable<std::optional<core::millis>> next_lease_expiry() override { return inner_.next_lease_expiry(); }
    asio::awaitable<core::RecoveryReport> reap_expired(core::millis now) override {
        trip(fail_reap);
        return inner_.reap_expired(now);
    }
    asio::awaitable<core::RecoveryReport> recover(core::millis now) override { return inner_.recover(now); }

private:
    void trip(std::atomic<int>& armed) {
        if (armed.exchange(0) == 0) return;
        ++failures;
        throw std::logic_error("injected fault");
    }
    core::JobStore& inner_;
};

// Throws what no handler should: a value that is not a std::exception.
class ThrowingHandler final : public core::Handler {
public:
    std::string_view type() const override { return "throws"; }
    std::optional<std::string> validate(const boost::json::value&) const override { return std::nullopt; }
    asio::awaitable<core::Outcome> run(const Job&, core::JobContext&) override {
        throw NotAnException{};
        co_return core::Outcome::success();
    }
};

// Holds its thread for 300 ms (a stand-in for CPU work such as a TLS handshake) and
// records when it ran: runs on one strand cannot overlap, runs on strands of their own can.
class BlockingHandler final : public core::Handler {
public:
    using Span = std::pair<std::chrono::steady_clock::time_point, std::chrono::steady_clock::time_point>;

    std::string_view type() const override { return "blocks"; }
    std::optional<std::string> validate(const boost::json::value&) const override { return std::nullopt; }
    asio::awaitable<core::Outcome> run(const Job&, core::JobContext&) override {
        const auto start = std::chrono::steady_clock::now();
        std::this_thread::sleep_for(300ms);
        const std::lock_guard lock(mutex_);
        spans_.emplace_back(start, std::chrono::steady_clock::now());
        co_return core::Outcome::success();
    }
    std::vector<Span> spans() const {
        const std::lock_guard lock(mutex_);
        return spans_;
    }

private:
    mutable std::mutex mutex_;
    std::vector<Span> spans_;
};

// The engine on a real SQLite store, its io_context on a thread of its own.
struct EngineFixture {
    explicit EngineFixture(core::EngineOptions options = default_options(), int threads = 1) {
        handlers.add(std::make_unique<handlers::NoopHandler>());
        handlers.add(std::make_unique<ThrowingHandler>());
        auto blocking_handler = std::make_unique<BlockingHandler>();
        blocking = blocking_handler.get();
        handlers.add(std::move(blocking_handler));
        engine = std::make_unique<core::Engine>(io, faulty, handlers, options);
        engine->start();
        for (int i = 0; i < threads; ++i) runners.emplace_back([this] { io.run(); });
    }
    ~EngineFixture() {
        stop();
        work.reset();
        io.stop();
        for (auto& runner : runners) runner.join();
    }

    static core::EngineOptions default_options() {
        core::EngineOptions o;
        o.workers = 8;
        o.visibility_timeout_ms = 2'000;
        o.shutdown_timeout_ms = 5'000;
        o.retry = {5, 20};
        return o;
    }

    template <class T>
    T await(asio::awaitable<T> task) {
        return asio::co_spawn(io, std::move(task), asio::use_future).get();
    }

    core::job_id enqueue(std::string payload, std::int32_t max_retries = 3, core::millis delay_ms = 0,
                         std::string type = "noop") {
        JobSpec spec;
        spec.type = std::move(type);
        spec.payload = std::move(payload);
        spec.max_retries = max_retries;
        spec.run_at = core::system_now_ms() + delay_ms;
        const auto id = await(store.enqueue(std::move(spec))).job.id;
        engine->notify_enqueued();
        return id;
    }

    Job get(core::job_id id) { return await(store.get(id)).value(); }

    bool wait_for_state(core::job_id id, JobState state, std::chrono::milliseconds timeout = 10s) {
        return test::wait_until([&] { return get(id).state == state; }, timeout);
    }

    void stop() {
        if (stopped) return;
        stopped = true;
        asio::co_spawn(io, engine->stop(), asio::use_future).get();
    }

    test::TempDir dir;
    // Before the store: the store's DB thread may still hold this io_context's executor
    // while it finishes an operation, so the store must be gone (its thread joined) first.
    asio::io_context io;
    asio::executor_work_guard<asio::io_context::executor_type> work{io.get_executor()};
    storage::SqliteJobStore store{{dir.file("jobs.db"), storage::Synchronous::normal}};
    FaultyStore faulty{store};
    core::HandlerRegistry handlers;
    BlockingHandler* blocking = nullptr;
    std::unique_ptr<core::Engine> engine;
    std::vector<std::thread> runners;
    bool stopped = false;
};

}  // namespace

BOOST_AUTO_TEST_SUITE(engine)

BOOST_FIXTURE_TEST_CASE(runs_every_enqueued_job, EngineFixture) {
    std::vector<core::job_id> ids;
    for (int i = 0; i < 200; ++i) ids.push_back(enqueue(R"({"sleep_ms": 1})"));
    for (const auto id : ids) BOOST_TEST_REQUIRE(wait_for_state(id, JobState::done));
    for (const auto id : ids) BOOST_TEST(get(id).attempts == 1);
}

BOOST_FIXTURE_TEST_CASE(retryable_failure_is_retried_then_dead_lettered, EngineFixture) {
    const auto id = enqueue(R"({"fail": "retryable"})", 2);
    BOOST_TEST_REQUIRE(wait_for_state(id, JobState::failed));
    const Job job = get(id);
    BOOST_TEST(job.attempts == 3);  // max_retries + 1 runs
    BOOST_TEST(job.last_error.value() == "noop asked to fail (retryable)");
}

BOOST_FIXTURE_TEST_CASE(permanent_failure_is_dead_at_once, EngineFixture) {
    const auto id = enqueue(R"({"fail": "permanent"})", 5);
    BOOST_TEST_REQUIRE(wait_for_state(id, JobState::failed));
    BOOST_TEST(get(id).attempts == 1);
    BOOST_TEST(get(id).last_error.value() == "noop asked to fail (permanent)");
}

BOOST_FIXTURE_TEST_CASE(delayed_job_waits_for_its_run_at, EngineFixture) {
    const auto id = enqueue("{}", 3, 300);
    BOOST_TEST_REQUIRE(wait_for_state(id, JobState::done));
    const Job job = get(id);
    BOOST_TEST(job.started_at.value() >= job.run_at);
}

BOOST_FIXTURE_TEST_CASE(a_run_past_its_deadline_is_cancelled_and_retried, EngineFixture) {
    // visibility 2000 ms: the run is cancelled at 1800 ms, long before the 60 s sleep.
    const auto id = enqueue(R"({"sleep_ms": 60000})", 0);
    BOOST_TEST_REQUIRE(wait_for_state(id, JobState::failed, 15s));
    BOOST_TEST(get(id).last_error.value() == "timed out after 1800 ms");
}

BOOST_FIXTURE_TEST_CASE(more_jobs_than_workers_all_finish, EngineFixture) {
    std::vector<core::job_id> ids;
    for (int i = 0; i < 40; ++i) ids.push_back(enqueue(R"({"sleep_ms": 20})"));
    for (const auto id : ids) BOOST_TEST_REQUIRE(wait_for_state(id, JobState::done));
}

struct ShortShutdown : EngineFixture {
    ShortShutdown() : EngineFixture(options()) {}
    static core::EngineOptions options() {
        auto o = default_options();
        o.visibility_timeout_ms = 120'000;
        o.shutdown_timeout_ms = 200;
        return o;
    }
};

BOOST_FIXTURE_TEST_CASE(stop_requeues_jobs_still_running_at_the_deadline, ShortShutdown) {
    const auto slow = enqueue(R"({"sleep_ms": 30000})");
    const auto quick = enqueue(R"({"sleep_ms": 50})");
    BOOST_TEST_REQUIRE(wait_for_state(slow, JobState::processing));
    const auto started = std::chrono::steady_clock::now();
    stop();
    BOOST_TEST((std::chrono::steady_clock::now() - started < 5s));
    BOOST_TEST(get(quick).state == JobState::done);
    const Job job = get(slow);
    BOOST_TEST(job.state == JobState::queued);
    BOOST_TEST(job.attempts == 0);  // an interrupted run does not use up an attempt
}

BOOST_FIXTURE_TEST_CASE(stop_lets_running_jobs_finish_before_the_deadline, EngineFixture) {
    const auto id = enqueue(R"({"sleep_ms": 300})");
    BOOST_TEST_REQUIRE(wait_for_state(id, JobState::processing));
    stop();
    BOOST_TEST(get(id).state == JobState::done);
}

// Regression: the dispatcher, the reaper and the recorder caught only StorageError; any
// other exception ended the loop while the server went on accepting jobs.
BOOST_FIXTURE_TEST_CASE(a_claim_that_throws_does_not_end_the_dispatcher, EngineFixture) {
    faulty.fail_claim = 1;
    const auto id = enqueue("{}");
    BOOST_TEST_REQUIRE(wait_for_state(id, JobState::done));
    BOOST_TEST(faulty.failures == 1);
    BOOST_TEST(engine->loops_not_running().empty());
    const auto next = enqueue("{}");  // and it goes on
    BOOST_TEST(wait_for_state(next, JobState::done));
}

BOOST_FIXTURE_TEST_CASE(a_next_run_at_that_throws_does_not_end_the_dispatcher, EngineFixture) {
    faulty.fail_next_run_at = 1;
    const auto delayed = enqueue("{}", 3, 300);
    BOOST_TEST_REQUIRE(wait_for_state(delayed, JobState::done));
    BOOST_TEST(faulty.failures == 1);
    BOOST_TEST(engine->loops_not_running().empty());
}

BOOST_FIXTURE_TEST_CASE(a_reap_that_throws_does_not_end_the_reaper, EngineFixture) {
    // A lease taken behind the engine's back (it is not told of the job), expiring at once:
    // only the reaper can give the job back to the engine.
    JobSpec spec;
    spec.type = "noop";
    spec.payload = "{}";
    spec.run_at = core::system_now_ms();
    const auto id = await(store.enqueue(std::move(spec))).job.id;
    const auto now = core::system_now_ms();
    BOOST_TEST_REQUIRE(await(store.claim({1, now, now + 50, {}, {}})).size() == 1u);
    faulty.fail_reap = 1;
    BOOST_TEST_REQUIRE(wait_for_state(id, JobState::done, 15s));
    BOOST_TEST(faulty.failures == 1);
    BOOST_TEST(get(id).attempts == 2);  // the lost lease counted
    BOOST_TEST(engine->loops_not_running().empty());
}

BOOST_FIXTURE_TEST_CASE(a_settle_that_throws_is_offered_again, EngineFixture) {
    faulty.fail_settle = 1;
    const auto id = enqueue("{}");
    BOOST_TEST_REQUIRE(wait_for_state(id, JobState::done));
    BOOST_TEST(faulty.failures == 1);
    BOOST_TEST(get(id).attempts == 1);  // recorded on the second offer, not run again
    const auto next = enqueue("{}");
    BOOST_TEST(wait_for_state(next, JobState::done));
}

BOOST_FIXTURE_TEST_CASE(a_handler_throwing_a_non_exception_fails_its_run_not_its_worker, EngineFixture) {
    const auto id = enqueue("{}", 1, 0, "throws");
    BOOST_TEST_REQUIRE(wait_for_state(id, JobState::failed));
    BOOST_TEST(get(id).attempts == 2);
    BOOST_TEST(get(id).last_error.value() == "handler threw: unknown exception");
    BOOST_TEST(engine->loops_not_running().empty());
    // Every worker is still there: as many slow jobs as workers all run at once.
    std::vector<core::job_id> ids;
    for (std::size_t i = 0; i < default_options().workers; ++i) ids.push_back(enqueue(R"({"sleep_ms": 2000})"));
    BOOST_TEST(test::wait_until([&] {
        return std::all_of(ids.begin(), ids.end(), [&](auto id) { return get(id).state != JobState::queued; });
    }, 1500ms));
}

struct TwoThreads : EngineFixture {
    TwoThreads() : EngineFixture(options(), 2) {}
    static core::EngineOptions options() {
        auto o = default_options();
        o.event_loop_threads = 2;
        return o;
    }
};

// Regression: every run executed on the engine's strand, so the handlers' work (TLS
// handshakes, building messages) of all workers shared one thread whatever --threads said.
BOOST_FIXTURE_TEST_CASE(runs_use_every_event_loop_thread, TwoThreads) {
    const auto first = enqueue("{}", 3, 0, "blocks");
    const auto second = enqueue("{}", 3, 0, "blocks");
    BOOST_TEST_REQUIRE(wait_for_state(first, JobState::done));
    BOOST_TEST_REQUIRE(wait_for_state(second, JobState::done));
    const auto spans = blocking->spans();
    BOOST_TEST_REQUIRE(spans.size() == 2u);
    const bool overlapped = spans[0].first < spans[1].second && spans[1].first < spans[0].second;
    BOOST_TEST(overlapped, "the two runs took turns on one strand");
}

BOOST_FIXTURE_TEST_CASE(stop_ends_every_loop, EngineFixture) {
    BOOST_TEST(engine->loops_not_running().empty());
    stop();
    BOOST_TEST(engine->loops_not_running().empty());  // stopping is not a fault
}

BOOST_AUTO_TEST_SUITE_END()
