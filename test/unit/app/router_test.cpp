#include "app/router.hpp"

#include "app/api/routes.hpp"

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <fstream>
#include <regex>
#include <set>
#include <string>

using namespace jobq;

namespace {

// (METHOD, path) of every operation under `paths:` in docs/openapi.yaml: a path is a key
// indented by two spaces, an operation a method key indented by four.
std::set<std::pair<std::string, std::string>> documented_operations() {
    std::ifstream in(std::string(JOBQ_SOURCE_DIR) + "/docs/openapi.yaml");
    BOOST_TEST_REQUIRE(in.good(), "docs/openapi.yaml is missing");
    const std::regex path_line(R"(^  (/[^:\s]*):\s*$)");
    const std::regex method_line(R"(^    (get|put|post|delete|patch|head|options):)");
    std::set<std::pair<std::string, std::string>> operations;
    bool in_paths = false;
    std::string path;
    for (std::string line; std::getline(in, line);) {
        if (!line.empty() && line[0] != ' ' && line[0] != '#') in_paths = line.starts_with("paths:");
        if (!in_paths) continue;
        std::smatch m;
        if (std::regex_search(line, m, path_line)) path = m[1];
        else if (std::regex_search(line, m, method_line)) {
            std::string method = m[1];
            std::transform(method.begin(), method.end(), method.begin(), ::toupper);
            operations.emplace(method, path);
        }
    }
    return operations;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(router)

BOOST_AUTO_TEST_CASE(every_route_is_in_the_openapi_document_and_nothing_else) {
    const auto documented = documented_operations();
    std::set<std::pair<std::string, std::string>> served;
    for (const auto& route : app::api_routes().routes())
        served.emplace(std::string(route.method), std::string(route.pattern));
    for (const auto& [method, path] : served)
        BOOST_TEST(documented.count({method, path}) == 1u, method << " " << path << " is served but not documented");
    for (const auto& [method, path] : documented)
        BOOST_TEST(served.count({method, path}) == 1u, method << " " << path << " is documented but not served");
}

BOOST_AUTO_TEST_CASE(matches_literal_and_parameter_segments) {
    auto m = app::api_routes().match("GET", "/jobs/42");
    BOOST_TEST_REQUIRE(m.route != nullptr);
    BOOST_TEST(m.route->pattern == "/jobs/{id}");
    BOOST_TEST(m.id == "42");
    m = app::api_routes().match("POST", "/jobs/42/retry");
    BOOST_TEST_REQUIRE(m.route != nullptr);
    BOOST_TEST(m.route->pattern == "/jobs/{id}/retry");
    BOOST_TEST(m.id == "42");
    m = app::api_routes().match("POST", "/jobs/batch");
    BOOST_TEST_REQUIRE(m.route != nullptr);
    BOOST_TEST(m.route->pattern == "/jobs/batch");
}

BOOST_AUTO_TEST_CASE(a_literal_segment_is_not_taken_for_a_parameter) {
    const auto m = app::api_routes().match("GET", "/jobs/batch");  // not job "batch"
    BOOST_TEST(m.route == nullptr);
    BOOST_TEST(m.allowed == "POST");
}

BOOST_AUTO_TEST_CASE(a_wrong_method_lists_the_allowed_ones) {
    const auto m = app::api_routes().match("PUT", "/jobs/7");
    BOOST_TEST(m.route == nullptr);
    BOOST_TEST(m.allowed == "GET, DELETE");
}

BOOST_AUTO_TEST_CASE(unknown_paths_match_nothing) {
    for (const char* path : {"/", "/jobs/", "/jobs//retry", "/jobs/1/retry/again", "/healthz/x", "/JOBS", ""}) {
        const auto m = app::api_routes().match("GET", path);
        BOOST_TEST(m.route == nullptr, path);
        BOOST_TEST(m.allowed.empty(), path);
    }
}

BOOST_AUTO_TEST_SUITE_END()
