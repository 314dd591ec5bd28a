// storage::pg::Connection against the test cluster, and the schema's migration: parameters and results, a
// pipeline of statements, a refused statement inside a transaction, both
// timeouts (the server's and ours), a backend killed under it, notifications,
// and a batch too large for one write.

#include "storage/postgres/connection.hpp"
#include "storage/postgres/schema.hpp"

#include "postgres.hpp"
#include "run_awaitable.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <future>

namespace jobq::storage::pg {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using test::run_awaitable;

namespace {

constexpr auto timeout = 10s;

struct ConnectionFixture {
    asio::io_context io;
    asio::thread_pool connector{1};
    test::TestSchema schema;

    std::unique_ptr<Connection> open(ConnectOptions options = {}) {
        if (options.conninfo.empty()) options.conninfo = schema.conninfo();
        return run_awaitable(io, Connection::open(io.get_executor(), connector.get_executor(), std::move(options)));
    }
    std::vector<Result> run(Connection& c, std::vector<Statement> statements, std::chrono::milliseconds t = timeout) {
        return run_awaitable(io, c.run(std::move(statements), t));
    }
    Result run_one(Connection& c, Statement statement) { return std::move(run(c, {std::move(statement)}).at(0)); }
    std::int64_t count(Connection& c, const std::string& table) {
        return run_one(c, {"SELECT count(*) FROM " + table}).int64(0, 0);
    }
};

}  // namespace

BOOST_FIXTURE_TEST_SUITE(pg_connection, ConnectionFixture)

BOOST_AUTO_TEST_CASE(parameters_go_as_text_and_results_come_back_typed) {
    auto c = open();
    const auto r = run_one(*c, {"SELECT $1::bigint + 1, $2::text, $3::text IS NULL, 0.5::float8, true",
                                {"41", "naïve \"quoted\"", std::nullopt}});
    BOOST_TEST(r.rows() == 1);
    BOOST_TEST(r.int64(0, 0) == 42);
    BOOST_TEST(r.text(0, 1) == "naïve \"quoted\"");
    BOOST_TEST(r.boolean(0, 2));
    BOOST_TEST(r.float64(0, 3) == 0.5);
    BOOST_TEST(r.boolean(0, 4));
    BOOST_TEST(r.optional_int64(0, 0).value() == 42);
    BOOST_TEST(c->backend_pid() > 0);
}

BOOST_AUTO_TEST_CASE(a_pipeline_answers_each_statement_in_order) {
    auto c = open();
    const auto results = run(*c, {{"CREATE TABLE t (n bigint PRIMARY KEY, label text)"},
                                  {"INSERT INTO t SELECT g, 'n' || g FROM generate_series(1, "
                                   "$1::int) AS g",
                                   {"5"}},
                                  {"UPDATE t SET label = 'even' WHERE n % 2 = 0"},
                                  {"SELECT n, label FROM t ORDER BY n"}});
    BOOST_REQUIRE(results.size() == 4);
    BOOST_TEST(results[1].affected() == 5);
    BOOST_TEST(results[2].affected() == 2);
    BOOST_TEST(results[3].rows() == 5);
    BOOST_TEST(results[3].text(1, 1) == "even");
    BOOST_TEST(results[3].text(2, 1) == "n3");
}

BOOST_AUTO_TEST_CASE(a_refused_statement_rolls_its_transaction_back_and_the_connection_goes_on) {
    auto c = open();
    run(*c, {{"CREATE TABLE t (n bigint PRIMARY KEY)"}});
    try {
        run(*c, {{"BEGIN"},
                 {"INSERT INTO t VALUES (1)"},
                 {"INSERT INTO t VALUES (1)"},  // unique_violation
                 {"INSERT INTO t VALUES (2)"},
                 {"COMMIT"}});
        BOOST_FAIL("the duplicate key was accepted");
    } catch (const StatementError& e) {
        BOOST_TEST(e.sqlstate() == "23505");
    }
    BOOST_TEST(!c->broken());
    BOOST_TEST(count(*c, "t") == 0);
    run(*c, {{"BEGIN"}, {"INSERT INTO t VALUES (3)"}, {"COMMIT"}});
    BOOST_TEST(count(*c, "t") == 1);
}

BOOST_AUTO_TEST_CASE(the_servers_statement_timeout_cancels_a_slow_statement) {
    ConnectOptions options;
    options.statement_timeout = 100ms;
    auto c = open(std::move(options));
    try {
        run(*c, {{"SELECT pg_sleep(5)"}});
        BOOST_FAIL("the statement outlived its timeout");
    } catch (const StatementError& e) {
        BOOST_TEST(e.sqlstate() == "57014");  // query_canceled
    }
    BOOST_TEST(!c->broken());
    BOOST_TEST(run_one(*c, {"SELECT 1"}).int64(0, 0) == 1);
}

BOOST_AUTO_TEST_CASE(no_answer_within_the_deadline_closes_the_connection) {
    auto c = open();
    const auto started = std::chrono::steady_clock::now();
    BOOST_CHECK_THROW(run(*c, {{"SELECT pg_sleep(5)"}}, 200ms), ConnectionError);
    const bool prompt = std::chrono::steady_clock::now() - started < 3s;
    BOOST_TEST(prompt);
    BOOST_TEST(c->broken());
    BOOST_CHECK_THROW(run(*c, {{"SELECT 1"}}), ConnectionError);
}

BOOST_AUTO_TEST_CASE(a_backend_killed_under_it_breaks_the_connection) {
    auto victim = open();
    auto killer = open();
    run(*killer, {{"SELECT pg_terminate_backend($1::int)", {std::to_string(victim->backend_pid())}}});
    BOOST_CHECK_THROW(run(*victim, {{"SELECT 1"}}), ConnectionError);
    BOOST_TEST(victim->broken());
}

BOOST_AUTO_TEST_CASE(a_server_that_is_not_there_is_a_connection_error) {
    // A port nothing listens on: bound, never listening.
    asio::ip::tcp::acceptor closed(io, {asio::ip::make_address("127.0.0.1"), 0});
    ConnectOptions options;
    options.conninfo = "postgresql://postgres@127.0.0.1:" + std::to_string(closed.local_endpoint().port()) + "/x";
    BOOST_CHECK_THROW(open(std::move(options)), ConnectionError);
}

BOOST_AUTO_TEST_CASE(notifications_wake_a_listening_connection) {
    ConnectOptions options;
    options.setup = {"LISTEN jobq_test"};
    auto listener = open(std::move(options));
    auto sender = open();
    BOOST_TEST(!run_awaitable(io, listener->wait_for_notification(50ms)));
    run(*sender, {{"SELECT pg_notify('jobq_test', 'hello')"}, {"NOTIFY jobq_test, 'again'"}});
    BOOST_TEST(run_awaitable(io, listener->wait_for_notification(timeout)));
    std::vector<Notification> got = listener->take_notifications();
    // Both may have arrived in one read, or the second after the first.
    if (got.size() < 2 && run_awaitable(io, listener->wait_for_notification(timeout))) {
        for (auto& n : listener->take_notifications()) got.push_back(std::move(n));
    }
    BOOST_REQUIRE(got.size() == 2);
    BOOST_TEST(got[0].channel == "jobq_test");
    BOOST_TEST(got[0].payload == "hello");
    BOOST_TEST(got[1].payload == "again");
    BOOST_TEST(listener->take_notifications().empty());
}

BOOST_AUTO_TEST_CASE(a_batch_larger_than_the_socket_buffers_goes_through) {
    auto c = open();
    run(*c, {{"CREATE TABLE t (n bigint, body text)"}});
    const std::string body(64 * 1024, 'x');
    std::vector<Statement> batch;
    for (int i = 0; i < 200; ++i)
        batch.push_back({"INSERT INTO t VALUES ($1, $2) RETURNING body", {std::to_string(i), body}});
    const auto results = run(*c, std::move(batch));  // 12.8 MB each way
    BOOST_REQUIRE(results.size() == 200);
    BOOST_TEST(results[199].text(0, 0).size() == body.size());
    BOOST_TEST(count(*c, "t") == 200);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace jobq::storage::pg

namespace jobq::storage::pg {

BOOST_FIXTURE_TEST_SUITE(pg_schema, ConnectionFixture)

// Nodes started together migrate once: the second waits for the first's advisory lock,
// then finds the schema at its version.
BOOST_AUTO_TEST_CASE(nodes_migrating_at_once_migrate_once) {
    auto first = open();
    auto second = open();
    auto one = asio::co_spawn(io, migrate(*first), asio::use_future);
    auto other = asio::co_spawn(io, migrate(*second), asio::use_future);
    io.restart();
    io.run_for(30s);
    BOOST_TEST_REQUIRE((one.wait_for(0s) == std::future_status::ready));
    BOOST_TEST_REQUIRE((other.wait_for(0s) == std::future_status::ready));
    std::vector<std::int64_t> found{one.get(), other.get()};
    std::sort(found.begin(), found.end());
    BOOST_TEST(found[0] == 0);               // one created the schema
    BOOST_TEST(found[1] == schema_version);  // the other found it done
    BOOST_TEST(run_one(*first, {"SELECT version FROM jobq_schema"}).int64(0, 0) == schema_version);
}

BOOST_AUTO_TEST_CASE(a_schema_newer_than_this_build_is_refused_and_left_alone) {
    auto c = open();
    run_awaitable(io, migrate(*c));
    run(*c, {{"UPDATE jobq_schema SET version = $1::bigint", {std::to_string(schema_version + 1)}}});
    try {
        run_awaitable(io, migrate(*c));
        BOOST_FAIL("a newer schema was accepted");
    } catch (const core::StorageError& e) {
        BOOST_TEST(std::string(e.what()).find("is newer than this jobq understands") != std::string::npos, e.what());
    }
    BOOST_TEST(run_one(*c, {"SELECT version FROM jobq_schema"}).int64(0, 0) == schema_version + 1);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace jobq::storage::pg
