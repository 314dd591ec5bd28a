// Bulk actions on a queue through the real server: every failed job of it queued again,
// its jobs in one state deleted; other queues and running jobs untouched.

#include "server_fixture.hpp"
#include "wait.hpp"

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include <string>
#include <vector>

using namespace jobq::test;
namespace json = boost::json;
using namespace std::chrono_literals;

namespace {

// A noop job that fails at once, for good.
std::string failing(const std::string& queue) {
    return R"({"type":"noop","payload":{"fail":"permanent"},"max_retries":0,"queue":")" + queue + R"("})";
}

std::int64_t count_of(const HttpReply& r) { return json::parse(r.body).at("count").as_int64(); }

}  // namespace

BOOST_AUTO_TEST_SUITE(queues)

BOOST_FIXTURE_TEST_CASE(retry_failed_and_purge_act_on_one_queue, Server) {
    std::vector<std::int64_t> mail;
    for (int i = 0; i < 3; ++i) mail.push_back(submit(failing("mail")));
    const auto other = submit(failing("other"));
    for (const auto id : mail) BOOST_TEST_REQUIRE(wait_until([&] { return state_of(id) == "failed"; }, 15s));
    BOOST_TEST_REQUIRE(wait_until([&] { return state_of(other) == "failed"; }, 15s));

    const auto retried = post("/queues/mail/retry-failed", "");
    BOOST_TEST_REQUIRE(retried.status == 200u, retried.body);
    BOOST_TEST(count_of(retried) == 3);
    // Queued again: they run, and fail again (noop's permanent failure).
    for (const auto id : mail) BOOST_TEST(wait_until([&] { return job(id).at("attempts_total").as_int64() == 2; }, 15s));
    BOOST_TEST(job(other).at("attempts_total").as_int64() == 1);
    BOOST_TEST(count_of(post("/queues/nobody/retry-failed", "")) == 0);

    for (const auto id : mail) BOOST_TEST_REQUIRE(wait_until([&] { return state_of(id) == "failed"; }, 15s));
    const auto purged = post("/queues/mail/purge?state=failed", "");
    BOOST_TEST_REQUIRE(purged.status == 200u, purged.body);
    BOOST_TEST(count_of(purged) == 3);
    for (const auto id : mail) BOOST_TEST(get("/jobs/" + std::to_string(id)).status == 404u);
    BOOST_TEST(state_of(other) == "failed");

    const auto stats = json::parse(get("/stats").body);
    BOOST_TEST(stats.at("jobs").at("failed").as_int64() == 1);
}

BOOST_FIXTURE_TEST_CASE(a_queue_is_named_in_the_path_percent_encoded, Server) {
    const auto id = submit(failing("news letter/ü"));
    BOOST_TEST_REQUIRE(wait_until([&] { return state_of(id) == "failed"; }, 15s));
    const auto retried = post("/queues/news%20letter%2F%C3%BC/retry-failed", "");
    BOOST_TEST_REQUIRE(retried.status == 200u, retried.body);
    BOOST_TEST(count_of(retried) == 1);
    const auto bad = post("/queues/news%zzletter/retry-failed", "");
    BOOST_TEST(bad.status == 400u, bad.body);
}

BOOST_FIXTURE_TEST_CASE(purge_needs_a_state_that_is_not_processing, Server) {
    for (const std::string query : {"", "?state=processing", "?state=sideways", "?state=done&colour=red"}) {
        const auto r = post("/queues/mail/purge" + query, "");
        BOOST_TEST(r.status == 400u, query << ": " << r.body);
        BOOST_TEST(error_code(r) == "invalid_query", query);
    }
    for (const std::string state : {"queued", "failed", "done", "cancelled"}) {
        const auto r = post("/queues/mail/purge?state=" + state, "");
        BOOST_TEST(r.status == 200u, state << ": " << r.body);
        BOOST_TEST(count_of(r) == 0);
    }
}

BOOST_AUTO_TEST_SUITE_END()
