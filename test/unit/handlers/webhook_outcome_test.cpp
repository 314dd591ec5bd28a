#include "handlers/webhook_outcome.hpp"

#include <boost/test/unit_test.hpp>

using namespace jobq;
using handlers::parse_retry_after;
using handlers::printable_prefix;
using Kind = core::Outcome::Kind;

namespace {

// 2026-11-28T10:00:00Z
constexpr core::millis now_ms = 1'795'860'000'000;

core::Outcome answer(unsigned status, std::string retry_after = "", std::string body = "") {
    net::http::Response r;
    r.status = status;
    r.reason = "Reason";
    r.retry_after = std::move(retry_after);
    r.body_prefix = std::move(body);
    return handlers::webhook_outcome(r, now_ms);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(webhook_outcome)

BOOST_AUTO_TEST_CASE(two_hundreds_succeed) {
    for (unsigned status : {200u, 201u, 202u, 204u, 299u}) BOOST_TEST((answer(status).kind == Kind::success), status);
}

BOOST_AUTO_TEST_CASE(timeouts_throttling_and_server_errors_are_retried) {
    for (unsigned status : {408u, 425u, 429u, 500u, 502u, 503u, 504u, 599u})
        BOOST_TEST((answer(status).kind == Kind::retryable), status);
}

BOOST_AUTO_TEST_CASE(redirects_and_other_client_errors_are_permanent) {
    for (unsigned status : {101u, 301u, 302u, 307u, 400u, 401u, 403u, 404u, 409u, 410u, 422u})
        BOOST_TEST((answer(status).kind == Kind::permanent), status);
    BOOST_TEST(answer(301).message == "HTTP 301 Reason (redirects are not followed)");
}

BOOST_AUTO_TEST_CASE(last_error_holds_status_reason_and_the_start_of_the_body) {
    BOOST_TEST(answer(404, "", "missing").message == "HTTP 404 Reason: missing");
    const auto long_body = answer(500, "", std::string(1000, 'x')).message;
    BOOST_TEST(long_body.size() == std::string("HTTP 500 Reason: ").size() + 200);
}

BOOST_AUTO_TEST_CASE(client_failures_keep_their_kind) {
    BOOST_TEST((handlers::webhook_outcome(net::Failure{false, "timed out"}, now_ms).kind == Kind::retryable));
    const auto denied = handlers::webhook_outcome(net::Failure{true, "address denied"}, now_ms);
    BOOST_TEST((denied.kind == Kind::permanent));
    BOOST_TEST(denied.message == "address denied");
}

BOOST_AUTO_TEST_CASE(retry_after_sets_the_delay_on_429_and_503_only) {
    BOOST_TEST(answer(429, "2").retry_in_ms.value_or(-1) == 2'000);
    BOOST_TEST(answer(503, "120").retry_in_ms.value_or(-1) == 120'000);
    BOOST_TEST(!answer(500, "2").retry_in_ms.has_value());
    BOOST_TEST(!answer(429, "soon").retry_in_ms.has_value());  // unreadable: the backoff decides
    BOOST_TEST(!answer(429).retry_in_ms.has_value());
}

BOOST_AUTO_TEST_CASE(retry_after_reads_seconds_and_http_dates_bounded_to_an_hour) {
    BOOST_TEST(parse_retry_after("0", now_ms).value_or(-1) == 0);
    BOOST_TEST(parse_retry_after(" 30 ", now_ms).value_or(-1) == 30'000);
    BOOST_TEST(parse_retry_after("86400", now_ms).value_or(-1) == handlers::max_retry_after_ms);
    BOOST_TEST(parse_retry_after("99999999999999999999999", now_ms).value_or(-1) == handlers::max_retry_after_ms);
    BOOST_TEST(parse_retry_after("Sat, 28 Nov 2026 10:00:45 GMT", now_ms).value_or(-1) == 45'000);
    BOOST_TEST(parse_retry_after("Sat, 28 Nov 2026 09:00:00 GMT", now_ms).value_or(-1) == 0);  // past
    BOOST_TEST(parse_retry_after("Sun, 29 Nov 2026 10:00:00 GMT", now_ms).value_or(-1) == handlers::max_retry_after_ms);
    for (const char* bad : {"", "-5", "1.5", "12abc", "Sat, 28 Nov 2026", "tomorrow", "Sat, 28 Nov 2026 10:00:45 UTC x"})
        BOOST_TEST(!parse_retry_after(bad, now_ms).has_value(), bad);
}

BOOST_AUTO_TEST_CASE(printable_prefix_is_valid_utf8_on_one_line) {
    BOOST_TEST(printable_prefix("ok\r\nnext\tline", 100) == "ok  next line");
    BOOST_TEST(printable_prefix("Grüße", 100) == "Grüße");
    BOOST_TEST(printable_prefix("Grüße", 3) == "Gr");  // ü is two bytes: not cut in half
    BOOST_TEST(printable_prefix("a\xff\xc3(b", 100) == "a?" "?(b");
    BOOST_TEST(printable_prefix("\xed\xa0\x80", 100) == "???");  // a surrogate is not UTF-8
    BOOST_TEST(printable_prefix("\xc0\xaf", 100) == "??");       // nor an overlong form
    BOOST_TEST(printable_prefix("😀x", 4) == "😀");
}

BOOST_AUTO_TEST_SUITE_END()
