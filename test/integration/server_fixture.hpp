#pragma once
// A running build/jobq on a temporary database, and a client connected to it.

#include "http_client.hpp"
#include "server_process.hpp"
#include "temp_dir.hpp"

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include <memory>
#include <string>
#include <vector>

namespace jobq::test {

inline std::vector<std::string> with_fast_retries(std::vector<std::string> args) {
    args.insert(args.end(), {"--retry-base-ms", "10", "--retry-max-ms", "50"});
    return args;
}

struct Server {
    explicit Server(std::vector<std::string> args = {})
        : server(dir.file("jobs.db"), with_fast_retries(std::move(args)), dir.file("log")) {
        BOOST_TEST_REQUIRE(server.start(), server.log());
        client = std::make_unique<HttpClient>(server.port());
    }

    HttpReply request(const std::string& method, const std::string& target, const std::string& body = {}) {
        auto r = client->request(method, target, body);
        BOOST_TEST_REQUIRE(r.has_value());
        return *r;
    }
    HttpReply post(const std::string& target, const std::string& body) { return request("POST", target, body); }
    HttpReply get(const std::string& target) { return request("GET", target); }

    boost::json::object job(std::int64_t id) {
        return boost::json::parse(get("/jobs/" + std::to_string(id)).body).as_object();
    }
    std::string state_of(std::int64_t id) { return std::string(job(id).at("state").as_string()); }

    // POSTs a job and returns its id; the submission must be answered 201.
    std::int64_t submit(const std::string& body) {
        const auto r = post("/jobs", body);
        BOOST_TEST_REQUIRE(r.status == 201, r.body);
        return boost::json::parse(r.body).at("id").as_int64();
    }

    static std::string error_code(const HttpReply& r) {
        return std::string(boost::json::parse(r.body).at("error").at("code").as_string());
    }

    TempDir dir;
    ServerProcess server;
    std::unique_ptr<HttpClient> client;
};

}  // namespace jobq::test
