// /readyz answers 503 naming an engine loop that is not running, and 200 when all run.

#include "app/api.hpp"

#include "run_awaitable.hpp"
#include "storage/sqlite/sqlite_job_store.hpp"
#include "temp_dir.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/json/parse.hpp>
#include <boost/test/unit_test.hpp>

using namespace jobq;

namespace {

struct NoNotifier final : core::JobNotifier {
    void notify_leased() override {}
    void notify_enqueued() override {}
};

struct ScriptedLoops final : core::LoopHealth {
    std::vector<std::string> ended;
    std::vector<std::string> loops_not_running() const override { return ended; }
};

struct ApiFixture {
    test::TempDir dir;
    boost::asio::io_context io;  // outlives the store, whose DB thread posts results to it
    storage::SqliteJobStore store{{dir.file("jobs.db"), storage::Synchronous::normal}};
    NoNotifier notifier;
    ScriptedLoops loops;
    core::HandlerRegistry handlers;
    app::Api api{{store, store, store, store, store, store, store}, notifier, loops, handlers, nullptr, app::ApiOptions{}, core::system_clock()};

    net::HttpResponse readyz() { return test::run_awaitable(io, api.handle(net::HttpRequest{"GET", "/readyz", "", "", ""})); }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(readiness)

BOOST_FIXTURE_TEST_CASE(ready_when_every_loop_runs_and_the_store_takes_writes, ApiFixture) {
    BOOST_TEST(readyz().status == 200u);
}

BOOST_FIXTURE_TEST_CASE(a_loop_that_is_not_running_is_named, ApiFixture) {
    loops.ended = {"dispatcher", "workers (3 of 8 ended)"};
    const auto r = readyz();
    BOOST_TEST(r.status == 503u);
    const auto error = boost::json::parse(r.body).at("error");
    BOOST_TEST(error.at("code").as_string() == "not_ready");
    const std::string message(error.at("message").as_string());
    BOOST_TEST(message.find("dispatcher") != std::string::npos, message);
    BOOST_TEST(message.find("workers (3 of 8 ended)") != std::string::npos, message);
}

BOOST_AUTO_TEST_SUITE_END()
