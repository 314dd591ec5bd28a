// When the database cannot take a write (here: the size limit is reached, as a full disk
// would do), a submission is answered 503 and never 201, nothing acknowledged is missing,
// and the server serves again by itself once there is room.

#include "http_client.hpp"
#include "job_db.hpp"
#include "server_process.hpp"
#include "temp_dir.hpp"
#include "wait.hpp"

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include <set>

using namespace jobq::test;
namespace json = boost::json;
using namespace std::chrono_literals;

BOOST_AUTO_TEST_SUITE(storage_full)

BOOST_AUTO_TEST_CASE(a_full_database_answers_503_loses_nothing_acknowledged_and_recovers) {
    TempDir dir;
    ServerProcess server(dir.file("jobs.db"), {"--max-db-mb", "1"}, dir.file("log"));
    BOOST_TEST_REQUIRE(server.start(), server.log());
    HttpClient client(server.port());

    // Jobs that stay queued, 2 KiB each: about 400 fill a 1 MiB database.
    // Built with += : GCC 12 misreads `literal + string + literal` here (-Warray-bounds).
    std::string job = R"({"type":"noop","delay_ms":3600000,"payload":{"filler":")";
    job += std::string(2048, 'f');
    job += R"("}})";
    std::set<std::int64_t> acknowledged;
    std::optional<HttpReply> refusal;
    for (int i = 0; i < 5'000 && !refusal; ++i) {
        const auto r = client.post("/jobs", job);
        BOOST_TEST_REQUIRE(r.has_value());
        if (r->status == 201) acknowledged.insert(json::parse(r->body).at("id").as_int64());
        else refusal = r;
    }
    BOOST_TEST_REQUIRE(refusal.has_value(), "the database never filled up");
    BOOST_TEST(refusal->status == 503);
    BOOST_TEST(json::parse(refusal->body).at("error").at("code").as_string() == "storage_unavailable");
    BOOST_TEST(acknowledged.size() > 100u);

    // Still full: refused again and not ready, the server alive and reading.
    BOOST_TEST(client.post("/jobs", job)->status == 503);
    BOOST_TEST(client.get("/readyz")->status == 503);
    BOOST_TEST(client.get("/healthz")->status == 200);
    BOOST_TEST(client.get("/jobs?limit=1")->status == 200);

    // Every acknowledged job is stored, and no refused one is.
    const auto stored = job_states(dir.file("jobs.db"));
    BOOST_TEST(stored.size() == acknowledged.size());
    for (const auto id : acknowledged) BOOST_TEST(stored.count(id) == 1u, "job " << id);

    // The operator makes room; submissions are accepted again with no restart.
    int deleted = 0;
    for (const auto id : acknowledged) {
        if (deleted == 50) break;
        deleted += client.request("DELETE", "/jobs/" + std::to_string(id))->status == 204;
    }
    BOOST_TEST(deleted == 50);
    const auto accepted = client.post("/jobs", job);
    BOOST_TEST_REQUIRE(accepted.has_value());
    BOOST_TEST(accepted->status == 201, accepted->body);
    BOOST_TEST(client.get("/readyz")->status == 200);
    BOOST_TEST(server.running());
}

BOOST_AUTO_TEST_SUITE_END()
