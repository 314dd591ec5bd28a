#include "net/smtp/message_data.hpp"
#include "net/smtp/reply.hpp"
#include "net/smtp/session.hpp"

#include <boost/test/unit_test.hpp>

using namespace jobq::net::smtp;
using Kind = Step::Kind;

namespace {

Reply reply_of(const std::string& text) {
    ReplyParser parser;
    BOOST_TEST_REQUIRE(parser.feed(text), parser.error());
    auto r = parser.next();
    BOOST_TEST_REQUIRE(r.has_value(), "incomplete reply: " << text);
    BOOST_TEST_REQUIRE(!parser.has_unread_bytes());
    return *r;
}

// The server's side of a conversation: each call is one reply to whatever was sent.
Step answer(Session& s, const std::string& text) { return s.on_reply(reply_of(text)); }

SessionOptions secure(bool with_credentials = true) {
    SessionOptions o;
    o.client_name = "jobq.test";
    if (with_credentials) o.credentials = Credentials{"user", "pass"};
    return o;
}

Envelope mail_to(std::vector<std::string> recipients, std::string message = "Subject: hi\r\n\r\nHello\r\n") {
    return {"sender@example.com", std::move(recipients), std::move(message)};
}

const std::string ehlo_after_tls = "250-mx.test\r\n250-PIPELINING\r\n250-SIZE 10000\r\n250-AUTH LOGIN PLAIN\r\n250 8BITMIME\r\n";

// Greeting, EHLO, STARTTLS and the handshake: the second EHLO has been sent.
Session encrypted_session() {
    Session s(secure());
    s.start();
    answer(s, "220 hi\r\n");
    answer(s, "250-mx\r\n250 STARTTLS\r\n");
    BOOST_TEST_REQUIRE((answer(s, "220 go\r\n").kind == Kind::start_tls));
    BOOST_TEST_REQUIRE(s.tls_established().bytes == "EHLO jobq.test\r\n");
    return s;
}

// Greeting, EHLO, STARTTLS, handshake, EHLO, AUTH PLAIN: a session ready to send.
// `second_ehlo` must offer AUTH PLAIN.
Session ready_session(const std::string& second_ehlo = ehlo_after_tls) {
    Session s(secure());
    BOOST_TEST_REQUIRE((s.start().kind == Kind::receive));
    BOOST_TEST_REQUIRE(answer(s, "220 mx.test ESMTP\r\n").bytes == "EHLO jobq.test\r\n");
    BOOST_TEST_REQUIRE(answer(s, "250-mx.test\r\n250 STARTTLS\r\n").bytes == "STARTTLS\r\n");
    BOOST_TEST_REQUIRE((answer(s, "220 go ahead\r\n").kind == Kind::start_tls));
    BOOST_TEST_REQUIRE(s.tls_established().bytes == "EHLO jobq.test\r\n");
    BOOST_TEST_REQUIRE(answer(s, second_ehlo).bytes.starts_with("AUTH PLAIN "));
    BOOST_TEST_REQUIRE((answer(s, "235 ok\r\n").kind == Kind::ready));
    return s;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(smtp_reply)

BOOST_AUTO_TEST_CASE(single_and_multi_line_replies) {
    const auto greeting = reply_of("220 mx.test ESMTP ready\r\n");
    BOOST_TEST(greeting.code == 220);
    BOOST_TEST(greeting.lines.size() == 1u);
    BOOST_TEST(greeting.lines[0] == "mx.test ESMTP ready");
    const auto ehlo = reply_of("250-mx.test\r\n250-PIPELINING\r\n250 SIZE 100\r\n");
    BOOST_TEST(ehlo.code == 250);
    BOOST_TEST(ehlo.lines.size() == 3u);
    BOOST_TEST(ehlo.text() == "250 mx.test; PIPELINING; SIZE 100");
    BOOST_TEST(reply_of("250\r\n").lines.size() == 1u);  // a bare code
}

BOOST_AUTO_TEST_CASE(replies_split_anywhere_and_several_in_one_read) {
    ReplyParser parser;
    const std::string stream = "250-a\r\n250 b\r\n354 go\r\n";
    for (const char c : stream) BOOST_TEST(parser.feed(std::string(1, c)));
    const auto first = parser.next();
    const auto second = parser.next();
    BOOST_TEST_REQUIRE((first && second));
    BOOST_TEST(first->lines.size() == 2u);
    BOOST_TEST(second->code == 354);
    BOOST_TEST(!parser.next().has_value());
    BOOST_TEST(!parser.has_unread_bytes());
    BOOST_TEST(parser.feed("250 ok\n"));  // a bare LF from a sloppy server
    BOOST_TEST(parser.next()->code == 250);
}

BOOST_AUTO_TEST_CASE(unread_bytes_are_visible) {
    ReplyParser parser;
    BOOST_TEST(parser.feed("220 go ahead\r\n250 injected\r\n"));
    BOOST_TEST(parser.next()->code == 220);
    BOOST_TEST(parser.has_unread_bytes());  // what arrived with the STARTTLS reply
    ReplyParser partial;
    BOOST_TEST(partial.feed("220 go"));
    BOOST_TEST(partial.has_unread_bytes());
}

BOOST_AUTO_TEST_CASE(malformed_streams_are_refused) {
    for (const char* bad : {"hello\r\n", "25\r\n", "250x\r\n", "999 nope\r\n", "250-a\r\n251 b\r\n"}) {
        ReplyParser parser;
        BOOST_TEST(!parser.feed(bad), bad);
        BOOST_TEST(!parser.error().empty(), bad);
    }
    ReplyParser endless;
    BOOST_TEST(!endless.feed("250 " + std::string(5000, 'x')));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(smtp_data)

BOOST_AUTO_TEST_CASE(line_endings_become_crlf_and_the_end_is_marked) {
    BOOST_TEST(data_section("a\nb") == "a\r\nb\r\n.\r\n");
    BOOST_TEST(data_section("a\r\nb\r\n") == "a\r\nb\r\n.\r\n");
    BOOST_TEST(data_section("a\rb") == "a\r\nb\r\n.\r\n");
    BOOST_TEST(data_section("a\r\r\nb") == "a\r\n\r\nb\r\n.\r\n");
    BOOST_TEST(data_section("") == ".\r\n");
}

BOOST_AUTO_TEST_CASE(a_line_starting_with_a_dot_gets_another) {
    BOOST_TEST(data_section(".\r\n") == "..\r\n.\r\n");  // a lone dot survives
    BOOST_TEST(data_section("x\n.hidden\n..two") == "x\r\n..hidden\r\n...two\r\n.\r\n");
    BOOST_TEST(data_section("a.b\r\n") == "a.b\r\n.\r\n");  // only at a line's start
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(smtp_session)

BOOST_AUTO_TEST_CASE(capabilities_from_ehlo) {
    const auto caps = parse_capabilities(
        reply_of("250-mx.test greets you\r\n250-STARTTLS\r\n250-pipelining\r\n250-SIZE 35882577\r\n"
                 "250-AUTH=LOGIN\r\n250 AUTH PLAIN XOAUTH2\r\n"));
    BOOST_TEST(caps.starttls);
    BOOST_TEST(caps.pipelining);
    BOOST_TEST(caps.auth_plain);
    BOOST_TEST(caps.auth_login);
    BOOST_TEST(caps.size_limit.value() == 35882577u);
    // Regression: the digits were accumulated with arithmetic that wrapped, so a limit past
    // 2^64 read as a small one and refused valid mail.
    const auto huge = parse_capabilities(reply_of("250-mx.test\r\n250 SIZE 18446744073709551617\r\n"));
    BOOST_TEST(!huge.size_limit.has_value());
    const auto largest = parse_capabilities(reply_of("250-mx.test\r\n250 SIZE 18446744073709551615\r\n"));
    BOOST_TEST(largest.size_limit.value() == 18446744073709551615u);
    BOOST_TEST(!parse_capabilities(reply_of("250-mx.test\r\n250 SIZE 12x\r\n")).size_limit.has_value());
    BOOST_TEST(!parse_capabilities(reply_of("250-mx.test\r\n250 SIZE -5\r\n")).size_limit.has_value());
    const auto bare = parse_capabilities(reply_of("250-mx.test\r\n250 SIZE 0\r\n"));
    BOOST_TEST(!bare.starttls);
    BOOST_TEST(!bare.size_limit.has_value());  // SIZE 0: no stated limit
}

BOOST_AUTO_TEST_CASE(starttls_auth_plain_and_a_pipelined_message) {
    Session s = ready_session();
    BOOST_TEST(s.encrypted());
    const auto sent = s.send_message(mail_to({"to@example.com"}, "Subject: hi\n\n.\nbye"));
    const std::string data = "Subject: hi\r\n\r\n..\r\nbye\r\n.\r\n";
    BOOST_TEST(sent.bytes == "MAIL FROM:<sender@example.com> SIZE=" + std::to_string(data.size()) +
                                 "\r\nRCPT TO:<to@example.com>\r\nDATA\r\n");
    BOOST_TEST((answer(s, "250 ok\r\n").kind == Kind::receive));
    BOOST_TEST((answer(s, "250 ok\r\n").kind == Kind::receive));
    BOOST_TEST(answer(s, "354 go\r\n").bytes == data);
    BOOST_TEST((answer(s, "250 queued as 1\r\n").kind == Kind::delivered));
    BOOST_TEST(s.messages_sent() == 1u);
    BOOST_TEST(s.quit().bytes == "QUIT\r\n");
    BOOST_TEST((answer(s, "221 bye\r\n").kind == Kind::closed));
}

BOOST_AUTO_TEST_CASE(auth_plain_sends_the_rfc_4616_string) {
    Session s = encrypted_session();  // the second EHLO is sent
    BOOST_TEST(answer(s, "250-mx\r\n250 AUTH PLAIN\r\n").bytes == "AUTH PLAIN AHVzZXIAcGFzcw==\r\n");  // \0user\0pass
}

BOOST_AUTO_TEST_CASE(auth_login_when_plain_is_not_offered) {
    Session s = encrypted_session();  // the second EHLO is sent
    BOOST_TEST(answer(s, "250-mx\r\n250 AUTH LOGIN\r\n").bytes == "AUTH LOGIN\r\n");
    BOOST_TEST(answer(s, "334 VXNlcm5hbWU6\r\n").bytes == "dXNlcg==\r\n");
    BOOST_TEST(answer(s, "334 UGFzc3dvcmQ6\r\n").bytes == "cGFzcw==\r\n");
    BOOST_TEST((answer(s, "235 ok\r\n").kind == Kind::ready));
}

BOOST_AUTO_TEST_CASE(no_starttls_offered_means_nothing_in_plain_text) {
    Session s(secure());
    s.start();
    answer(s, "220 hi\r\n");
    const auto step = answer(s, "250-mx\r\n250 AUTH PLAIN\r\n");
    BOOST_TEST((step.kind == Kind::failed));
    BOOST_TEST(step.bytes.empty());
    BOOST_TEST(!step.failure.permanent);
    BOOST_TEST(!step.session_usable);
    BOOST_TEST(step.failure.message.find("STARTTLS") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_refused_starttls_is_a_failure_not_a_fallback) {
    Session s(secure());
    s.start();
    answer(s, "220 hi\r\n");
    answer(s, "250-mx\r\n250 STARTTLS\r\n");
    const auto step = answer(s, "454 TLS not available\r\n");
    BOOST_TEST((step.kind == Kind::failed));
    BOOST_TEST(step.failure.message.find("454") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(credentials_are_never_sent_unencrypted) {
    SessionOptions o = secure();
    o.tls = TlsMode::none;
    Session s(o);
    s.start();
    answer(s, "220 hi\r\n");
    const auto step = answer(s, "250-mx\r\n250 AUTH PLAIN\r\n");
    BOOST_TEST((step.kind == Kind::failed));
    BOOST_TEST(step.failure.message.find("unencrypted") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(failed_authentication_is_permanent_and_names_no_password) {
    Session s = encrypted_session();  // the second EHLO is sent
    answer(s, "250-mx\r\n250 AUTH PLAIN\r\n");
    const auto step = answer(s, "535 5.7.8 bad credentials\r\n");
    BOOST_TEST((step.kind == Kind::failed));
    BOOST_TEST(step.failure.permanent);
    BOOST_TEST(step.failure.message.find("pass") == std::string::npos);
    BOOST_TEST(step.failure.message.find("AHVzZXIAcGFzcw") == std::string::npos);
}

BOOST_AUTO_TEST_CASE(plain_relay_without_esmtp_falls_back_to_helo) {
    SessionOptions o;
    o.tls = TlsMode::none;
    Session s(o);
    s.start();
    BOOST_TEST(answer(s, "220 old relay\r\n").bytes == "EHLO localhost\r\n");
    BOOST_TEST(answer(s, "502 command not implemented\r\n").bytes == "HELO localhost\r\n");
    BOOST_TEST((answer(s, "250 hello\r\n").kind == Kind::ready));
    // No PIPELINING: one command per reply.
    BOOST_TEST(s.send_message(mail_to({"a@x.test", "b@x.test"})).bytes == "MAIL FROM:<sender@example.com>\r\n");
    BOOST_TEST(answer(s, "250 ok\r\n").bytes == "RCPT TO:<a@x.test>\r\n");
    BOOST_TEST(answer(s, "250 ok\r\n").bytes == "RCPT TO:<b@x.test>\r\n");
    BOOST_TEST(answer(s, "250 ok\r\n").bytes == "DATA\r\n");
    BOOST_TEST(answer(s, "354 go\r\n").bytes.ends_with("\r\n.\r\n"));
    BOOST_TEST((answer(s, "250 ok\r\n").kind == Kind::delivered));
}

BOOST_AUTO_TEST_CASE(a_temporary_recipient_failure_is_retryable_and_rset_makes_the_session_ready) {
    Session s = ready_session();
    s.send_message(mail_to({"to@example.com"}));
    answer(s, "250 ok\r\n");
    BOOST_TEST((answer(s, "451 4.3.0 try later\r\n").kind == Kind::receive));  // DATA's reply is still due
    const auto step = answer(s, "554 no valid recipients\r\n");
    BOOST_TEST((step.kind == Kind::failed));
    BOOST_TEST(!step.failure.permanent);
    BOOST_TEST(step.session_usable);
    BOOST_TEST(step.failure.message.find("451") != std::string::npos);
    BOOST_TEST(s.reset().bytes == "RSET\r\n");
    BOOST_TEST((answer(s, "250 ok\r\n").kind == Kind::ready));
    BOOST_TEST(s.send_message(mail_to({"to@example.com"})).bytes.starts_with("MAIL FROM:"));
}

BOOST_AUTO_TEST_CASE(a_permanent_recipient_failure_is_permanent) {
    Session s = ready_session();
    s.send_message(mail_to({"nobody@example.com"}));
    answer(s, "250 ok\r\n");
    answer(s, "550 5.1.1 no such user\r\n");
    const auto step = answer(s, "503 bad sequence\r\n");
    BOOST_TEST((step.kind == Kind::failed));
    BOOST_TEST(step.failure.permanent);
    BOOST_TEST(step.failure.message.find("550") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(with_several_recipients_data_waits_for_every_rcpt) {
    Session s = ready_session();
    const auto sent = s.send_message(mail_to({"a@x.test", "b@x.test"}));
    BOOST_TEST(sent.bytes.find("DATA") == std::string::npos);
    answer(s, "250 ok\r\n");
    answer(s, "250 ok\r\n");
    const auto step = answer(s, "550 no such user\r\n");
    BOOST_TEST((step.kind == Kind::failed));  // and no DATA was sent: nobody got a partial delivery
    BOOST_TEST(step.bytes.empty());
    Session t = ready_session();
    t.send_message(mail_to({"a@x.test", "b@x.test"}));
    answer(t, "250 ok\r\n");
    answer(t, "250 ok\r\n");
    BOOST_TEST(answer(t, "250 ok\r\n").bytes == "DATA\r\n");
}

BOOST_AUTO_TEST_CASE(a_message_over_the_size_limit_is_refused_before_sending) {
    Session s = ready_session("250-mx.test\r\n250-SIZE 100\r\n250 AUTH PLAIN\r\n");
    const auto step = s.send_message(mail_to({"a@x.test"}, std::string(200, 'x')));
    BOOST_TEST((step.kind == Kind::failed));
    BOOST_TEST(step.failure.permanent);
    BOOST_TEST(step.bytes.empty());
}

BOOST_AUTO_TEST_CASE(a_421_ends_the_session_at_any_point) {
    Session s = ready_session();
    s.send_message(mail_to({"a@x.test"}));
    const auto step = answer(s, "421 4.3.2 shutting down\r\n");
    BOOST_TEST((step.kind == Kind::failed));
    BOOST_TEST(!step.failure.permanent);
    BOOST_TEST(!step.session_usable);
}

BOOST_AUTO_TEST_CASE(a_refused_message_leaves_the_session_usable) {
    Session s = ready_session();
    s.send_message(mail_to({"a@x.test"}));
    answer(s, "250 ok\r\n");
    answer(s, "250 ok\r\n");
    answer(s, "354 go\r\n");
    const auto step = answer(s, "552 5.3.4 message too big\r\n");
    BOOST_TEST((step.kind == Kind::failed));
    BOOST_TEST(step.failure.permanent);
    BOOST_TEST(step.session_usable);
    BOOST_TEST(s.noop().bytes == "NOOP\r\n");
    BOOST_TEST((answer(s, "250 ok\r\n").kind == Kind::ready));
}

BOOST_AUTO_TEST_SUITE_END()
