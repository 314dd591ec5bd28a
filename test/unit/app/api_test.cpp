#include "app/api.hpp"

#include <boost/json/parse.hpp>
#include <boost/test/unit_test.hpp>

#include <string>
#include <utility>

using namespace jobq;

namespace {

std::string header(const net::HttpResponse& r, std::string_view name) {
    for (const auto& [n, v] : r.headers)
        if (n == name) return v;
    return {};
}

std::pair<std::string, std::string> error_of(const net::HttpResponse& r) {
    const auto e = boost::json::parse(r.body).at("error");
    return {std::string(e.at("code").as_string()), std::string(e.at("message").as_string())};
}

}  // namespace

BOOST_AUTO_TEST_SUITE(api_errors)

BOOST_AUTO_TEST_CASE(each_errc_has_its_status) {
    using core::errc;
    const std::pair<errc, unsigned> statuses[] = {
        {errc::invalid, 400},
        {errc::unauthorized, 401},
        {errc::forbidden, 403},
        {errc::not_found, 404},
        {errc::method_not_allowed, 405},
        {errc::conflict, 409},
        {errc::lease_lost, 409},
        {errc::too_large, 413},
        {errc::unsupported_media_type, 415},
        {errc::busy, 429},
        {errc::unavailable, 503},
    };
    for (const auto& [code, status] : statuses)
        BOOST_TEST(app::error_response(core::make_error(code, "m")).status == status,
                   core::make_error_code(code).message());
}

BOOST_AUTO_TEST_CASE(the_body_names_the_error_and_falls_back_to_the_errc) {
    const auto named = app::error_response(core::make_error(core::errc::invalid, "type is required", "missing_field"));
    BOOST_TEST(named.body == R"({"error":{"code":"missing_field","message":"type is required"}})");
    const auto unnamed = app::error_response(core::make_error(core::errc::conflict, "job 1 is done"));
    BOOST_TEST(error_of(unnamed).first == "conflict");
}

BOOST_AUTO_TEST_CASE(statuses_that_need_a_header_have_it) {
    BOOST_TEST(header(app::error_response(core::make_error(core::errc::unauthorized, "m")), "WWW-Authenticate") ==
               "Bearer");
    BOOST_TEST(header(app::error_response(core::make_error(core::errc::busy, "m")), "Retry-After") == "1");
}

BOOST_AUTO_TEST_CASE(an_error_outside_the_jobq_category_is_a_500_that_tells_nothing) {
    const core::Error foreign{boost::system::errc::make_error_code(boost::system::errc::io_error), "disk",
                              "/var/lib/jobq/jobq.db: input/output error"};
    const auto r = app::error_response(foreign);
    BOOST_TEST(r.status == 500u);
    BOOST_TEST(r.body.find("jobq.db") == std::string::npos);
    BOOST_TEST(error_of(r).first == "internal_error");
}

BOOST_AUTO_TEST_SUITE_END()
