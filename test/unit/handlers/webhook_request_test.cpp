#include "handlers/webhook_request.hpp"
#include "net/cidr.hpp"

#include <boost/asio/ip/address.hpp>
#include <boost/json/parse.hpp>
#include <boost/test/unit_test.hpp>

using namespace jobq;
using handlers::Url;
namespace json = boost::json;

namespace {

Url url_of(const char* text) {
    auto r = handlers::parse_url(text);
    BOOST_TEST_REQUIRE(r.has_value(), text << ": " << (r ? "" : r.error().message));
    return *r;
}

std::string webhook_error(const char* payload) {
    auto r = handlers::parse_webhook(json::parse(payload));
    BOOST_TEST_REQUIRE(r.has_error(), payload);
    BOOST_TEST((r.error().code == core::errc::invalid), payload);
    return r.error().message;
}

bool denies(const char* list, const char* address) {
    const auto ranges = net::parse_cidr_list(list);
    BOOST_TEST_REQUIRE(ranges.has_value(), list);
    return net::in_any(*ranges, boost::asio::ip::make_address(address));
}

}  // namespace

BOOST_AUTO_TEST_SUITE(webhook_request)

BOOST_AUTO_TEST_CASE(urls_with_their_defaults) {
    auto u = url_of("https://hooks.example.com/in?x=1");
    BOOST_TEST(u.https);
    BOOST_TEST(u.host == "hooks.example.com");
    BOOST_TEST(u.port == 443);
    BOOST_TEST(u.target == "/in?x=1");
    u = url_of("http://127.0.0.1:8080");
    BOOST_TEST(!u.https);
    BOOST_TEST(u.port == 8080);
    BOOST_TEST(u.target == "/");
    u = url_of("HTTP://[::1]:9000/a#fragment");
    BOOST_TEST(u.host == "::1");
    BOOST_TEST(u.port == 9000);
    BOOST_TEST(u.target == "/a");
    BOOST_TEST(url_of("http://h.io?q=1").target == "/?q=1");
}

// Regression: with Boost.URL's grammar, URLs jobq always took (and jobs stored with them)
// were refused. What RFC 3986 allows nowhere is sent percent-encoded instead.
BOOST_AUTO_TEST_CASE(characters_the_grammar_refuses_are_sent_encoded) {
    BOOST_TEST(url_of("http://h.io/a|b/{c}^\"d\"?q=x|y").target == "/a%7Cb/%7Bc%7D%5E%22d%22?q=x%7Cy");
    BOOST_TEST(url_of("http://h.io/caf\xC3\xA9/100%").target == "/caf%C3%A9/100%25");
    BOOST_TEST(url_of("http://h.io/a%2Fb").target == "/a%2Fb");  // an escape stays as written
    BOOST_TEST(url_of("http://h.io/a#b#c").target == "/a");
}

BOOST_AUTO_TEST_CASE(bad_urls_say_why) {
    for (const char* bad : {"ftp://x.io/", "x.io/path", "http:///path", "http://user:pw@x.io/", "http://x.io:0/",
                            "http://x.io:70000/", "http://x.io:/", "http://x io/", "http://x.io/\r\nHost: evil",
                            "http://[::1/"}) {
        const auto r = handlers::parse_url(bad);
        BOOST_TEST(r.has_error(), bad);
    }
}

BOOST_AUTO_TEST_CASE(a_webhook_payload) {
    const auto r = handlers::parse_webhook(json::parse(
        R"({"url":"https://x.io/hook","body":{"event":"paid","id":7},"method":"PUT","headers":{"X-Tenant":"acme"}})"));
    BOOST_TEST_REQUIRE(r.has_value());
    const auto& hook = *r;
    BOOST_TEST(hook.method == "PUT");
    BOOST_TEST(json::parse(hook.body).at("event").as_string() == "paid");
    BOOST_TEST_REQUIRE(hook.headers.size() == 1u);
    BOOST_TEST(hook.headers[0].first == "X-Tenant");
    const auto defaults = handlers::parse_webhook(json::parse(R"({"url":"http://x.io","body":null})"));
    BOOST_TEST(defaults.value().method == "POST");
}

BOOST_AUTO_TEST_CASE(bad_payloads_say_why) {
    BOOST_TEST(webhook_error(R"({"body":{}})").find("url is required") != std::string::npos);
    BOOST_TEST(webhook_error(R"({"url":"http://x.io"})").find("body is required") != std::string::npos);
    BOOST_TEST(webhook_error(R"({"url":"http://x.io","body":1,"method":"GET"})").find("method") != std::string::npos);
    BOOST_TEST(webhook_error(R"({"url":"http://x.io","body":1,"headers":{"Host":"evil"}})").find("set by jobq") !=
               std::string::npos);
    BOOST_TEST(webhook_error(R"({"url":"http://x.io","body":1,"headers":{"content-length":"9"}})").find("set by jobq") !=
               std::string::npos);
    BOOST_TEST(webhook_error(R"({"url":"http://x.io","body":1,"headers":{"X-A":"v\r\nX-B: w"}})")
                   .find("invalid value") != std::string::npos);
    BOOST_TEST(webhook_error(R"({"url":"http://x.io","body":1,"headers":{"Bad Name":"v"}})").find("token") !=
               std::string::npos);
    BOOST_TEST(webhook_error(R"({"url":"http://x.io","body":1,"headers":{"X-A":5}})").find("string") !=
               std::string::npos);
    BOOST_TEST(webhook_error(R"({"url":"http://x.io","body":1,"extra":1})") == "unknown payload field 'extra'");
}

BOOST_AUTO_TEST_CASE(the_signature_is_hmac_sha256_of_time_dot_body) {
    // Computed independently: Python's hmac.new(b"Jefe", b"1700000000.{}", sha256).
    BOOST_TEST(handlers::webhook_signature("Jefe", 1'700'000'000, "{}") ==
               "t=1700000000,v1=d3793e2b4103edfbd98cc19591832f5fad701d413db9fcae0ae7dab8184ed207");
    BOOST_TEST(handlers::webhook_signature("Jefe", 1'700'000'001, "{}") !=
               handlers::webhook_signature("Jefe", 1'700'000'000, "{}"));
}

BOOST_AUTO_TEST_CASE(address_ranges_for_the_egress_guard) {
    const char* defaults = "169.254.0.0/16, fe80::/10";
    BOOST_TEST(denies(defaults, "169.254.169.254"));  // cloud metadata
    BOOST_TEST(!denies(defaults, "169.255.0.1"));
    BOOST_TEST(denies(defaults, "fe80::1"));
    BOOST_TEST(!denies(defaults, "2001:db8::1"));
    BOOST_TEST(!denies(defaults, "127.0.0.1"));
    BOOST_TEST(denies("10.0.0.0/8", "::ffff:10.1.2.3"));  // IPv4-mapped counts as IPv4
    BOOST_TEST(denies("127.0.0.1", "127.0.0.1"));         // a single address
    BOOST_TEST(!denies("127.0.0.1", "127.0.0.2"));
    BOOST_TEST(denies("0.0.0.0/0", "8.8.8.8"));
    BOOST_TEST(!denies("", "8.8.8.8"));
    std::string error;
    BOOST_TEST(!net::parse_cidr_list("10.0.0.0/33", &error).has_value());
    BOOST_TEST(error.find("10.0.0.0/33") != std::string::npos);
    BOOST_TEST(!net::parse_cidr_list("10.0.0.0/8, banana").has_value());
}

BOOST_AUTO_TEST_SUITE_END()
