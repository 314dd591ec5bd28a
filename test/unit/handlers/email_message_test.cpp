#include "handlers/email_message.hpp"

#include <boost/json/parse.hpp>
#include <boost/test/unit_test.hpp>

using namespace jobq::handlers;
namespace json = boost::json;

namespace {

jobq::core::Result<Email> parse(const char* payload) { return parse_email(json::parse(payload)); }

std::string error_of(const char* payload) {
    const auto r = parse(payload);
    BOOST_TEST_REQUIRE(r.has_error(), payload);
    BOOST_TEST((r.error().code == jobq::core::errc::invalid), payload);
    return r.error().message;
}

std::string decode_base64(std::string_view text) {
    constexpr std::string_view alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    std::uint32_t bits = 0;
    int count = 0;
    for (const char c : text) {
        if (c == '=') break;
        bits = bits << 6 | static_cast<std::uint32_t>(alphabet.find(c));
        if ((count += 6) >= 8) {
            count -= 8;
            out += static_cast<char>((bits >> count) & 0xff);
        }
    }
    return out;
}

// The text of "=?UTF-8?B?...?=" words separated by folding.
std::string decode_header(const std::string& encoded) {
    std::string out;
    for (std::size_t at = 0; (at = encoded.find("=?UTF-8?B?", at)) != std::string::npos;) {
        const auto start = at + 10;
        const auto end = encoded.find("?=", start);
        out += decode_base64(encoded.substr(start, end - start));
        at = end + 2;
    }
    return out;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(email_message)

BOOST_AUTO_TEST_CASE(addresses_that_cannot_smuggle_commands_or_headers) {
    for (const char* good : {"user@example.com", "first.last+tag@sub.example.co.uk", "o'brien@x.io", "a@b"})
        BOOST_TEST(valid_address(good), good);
    for (const char* bad : {"", "user", "@example.com", "user@", "<user@example.com>", "user@example.com>",
                            "user@example.com\r\nRCPT TO:<x@y.z>", "user@example.com SIZE=1", "a b@c.d",
                            "user@exa mple.com", "a..b@c.d", ".a@b.c", "a.@b.c", "a@-b.c", "a@b..c", "a@b.c-",
                            "a@b@c.d", "us\ner@x.y"})
        BOOST_TEST(!valid_address(bad), bad);
    std::string local_part_too_long(65, 'a');
    local_part_too_long += "@x.y";  // built with += : GCC 12 misreads `string + literal` here (-Warray-bounds)
    BOOST_TEST(!valid_address(local_part_too_long));
}

BOOST_AUTO_TEST_CASE(the_original_payload_and_the_full_one) {
    const auto seed = parse(R"({"email":"user@example.com","subject":"Welcome","message":"Hello"})");
    BOOST_TEST_REQUIRE(seed.has_value());
    const auto& s = *seed;
    BOOST_TEST(s.to == std::vector<std::string>{"user@example.com"});
    BOOST_TEST(s.subject == "Welcome");
    BOOST_TEST(s.text == "Hello");

    const auto full = parse(R"({"to":["a@x.io","b@x.io"],"cc":"c@x.io","reply_to":"r@x.io",
                                "subject":"Hi","body":"text","html":"<p>text</p>"})");
    BOOST_TEST_REQUIRE(full.has_value());
    const auto& f = *full;
    BOOST_TEST(f.to.size() == 2u);
    BOOST_TEST(f.cc == std::vector<std::string>{"c@x.io"});
    BOOST_TEST(f.reply_to.value() == "r@x.io");
    BOOST_TEST(f.html.value() == "<p>text</p>");
}

BOOST_AUTO_TEST_CASE(bad_payloads_say_what_is_wrong) {
    BOOST_TEST(error_of(R"([])") == "payload must be an object");
    BOOST_TEST(error_of(R"({"subject":"s","body":"b"})") == "to (or email) is required");
    BOOST_TEST(error_of(R"({"to":"x@y.z","body":"b"})") == "subject is required");
    BOOST_TEST(error_of(R"({"to":"x@y.z","subject":"s"})") == "body (or message) is required");
    BOOST_TEST(error_of(R"({"to":"x@y.z","email":"x@y.z","subject":"s","body":"b"})").find("cannot both") !=
               std::string::npos);
    BOOST_TEST(error_of(R"({"to":"x@y.z","subject":"s","body":"b","message":"m"})").find("cannot both") !=
               std::string::npos);
    BOOST_TEST(error_of(R"({"to":"x@y.z","subject":"a\r\nBcc: evil@x.io","body":"b"})") == "subject must be one line");
    BOOST_TEST(error_of(R"({"to":"x@y.z\r\nDATA","subject":"s","body":"b"})").find("email address") != std::string::npos);
    BOOST_TEST(error_of(R"({"to":[],"subject":"s","body":"b"})").find("at least one") != std::string::npos);
    BOOST_TEST(error_of(R"({"to":"x@y.z","subject":"s","body":"b","bcc":"q@y.z"})") == "unknown payload field 'bcc'");
    BOOST_TEST(error_of(R"({"to":"x@y.z","subject":7,"body":"b"})") == "subject must be a string");
}

BOOST_AUTO_TEST_CASE(non_ascii_subjects_become_encoded_words) {
    BOOST_TEST(encode_header_text("Welcome!") == "Welcome!");
    BOOST_TEST(encode_header_text("Grüße") == "=?UTF-8?B?R3LDvMOfZQ==?=");
    std::string long_subject;
    for (int i = 0; i < 40; ++i) long_subject += "Добро ";  // 2-byte characters
    const auto encoded = encode_header_text(long_subject);
    BOOST_TEST(decode_header(encoded) == long_subject);
    std::size_t start = 0;
    for (std::size_t end; start < encoded.size(); start = end + 3) {
        end = std::min(encoded.find("\r\n ", start), encoded.size());
        BOOST_TEST(end - start <= 75u);
    }
}

BOOST_AUTO_TEST_CASE(quoted_printable_keeps_lines_short_and_bytes_exact) {
    BOOST_TEST(quoted_printable("a=b") == "a=3Db");
    BOOST_TEST(quoted_printable("é") == "=C3=A9");
    BOOST_TEST(quoted_printable("end \nnext\t") == "end=20\r\nnext=09");
    BOOST_TEST(quoted_printable(".\n.") == ".\r\n.");  // dot-stuffing is DATA's job, not this
    const auto wrapped = quoted_printable(std::string(200, 'x'));
    for (std::size_t start = 0, end; start < wrapped.size(); start = end + 2) {
        end = std::min(wrapped.find("\r\n", start), wrapped.size());
        BOOST_TEST(end - start <= 76u);
    }
    BOOST_TEST(wrapped.find("=\r\n") == 75u);
}

BOOST_AUTO_TEST_CASE(dates_in_rfc_5322_form) {
    BOOST_TEST(rfc5322_date(0) == "Thu, 01 Jan 1970 00:00:00 +0000");
    BOOST_TEST(rfc5322_date(1'795'841'459'123) == "Sat, 28 Nov 2026 04:50:59 +0000");
}

BOOST_AUTO_TEST_CASE(a_plain_text_message) {
    Email email;
    email.to = {"a@x.io", "b@x.io"};
    email.subject = "Grüße";
    email.text = "Hello\n.\nBye";
    const auto message = build_message(email, {"jobq <noreply@x.io>", 0, "<job-1.0@x.io>"}, "=_b");
    for (const char* header : {"Date: Thu, 01 Jan 1970 00:00:00 +0000\r\n", "Message-ID: <job-1.0@x.io>\r\n",
                               "From: jobq <noreply@x.io>\r\n", "To: a@x.io, b@x.io\r\n",
                               "Subject: =?UTF-8?B?R3LDvMOfZQ==?=\r\n", "MIME-Version: 1.0\r\n",
                               "Content-Type: text/plain; charset=UTF-8\r\n",
                               "Content-Transfer-Encoding: quoted-printable\r\n"})
        BOOST_TEST(message.find(header) != std::string::npos, header);
    BOOST_TEST(message.find("\r\n\r\nHello\r\n.\r\nBye\r\n") != std::string::npos);
    BOOST_TEST(message.find("Cc:") == std::string::npos);
    for (std::size_t i = 0; i < message.size(); ++i)
        if (message[i] == '\n') BOOST_TEST((i > 0 && message[i - 1] == '\r'));
}

BOOST_AUTO_TEST_CASE(long_address_lists_are_folded_at_78_characters) {
    // Found by fuzzing: a hundred recipients made a To line of thousands of characters.
    Email email;
    for (int i = 0; i < 100; ++i) email.to.push_back("recipient" + std::to_string(i) + "@example.com");
    email.cc = {std::string(64, 'c') + "@" + std::string(63, 'd') + ".example.com", "e@x.io"};
    email.subject = "s";
    email.text = "t";
    const auto message = build_message(email, {"jobq <noreply@x.io>", 0, "<job-1.0@x.io>"}, "=_b");
    const auto headers = message.substr(0, message.find("\r\n\r\n") + 2);
    std::size_t start = 0;
    for (auto end = headers.find("\r\n"); end != std::string::npos; end = headers.find("\r\n", start)) {
        const auto line = headers.substr(start, end - start);
        BOOST_TEST((line.size() <= 78u || line.find(", ") == std::string::npos), line);  // one long address may pass 78
        start = end + 2;
    }
    // Unfolded (CRLF before a space removed), the header is the list as given.
    std::string unfolded = headers;
    for (std::size_t at; (at = unfolded.find("\r\n ")) != std::string::npos;) unfolded.erase(at, 2);
    std::string to = "To: ";
    for (std::size_t i = 0; i < email.to.size(); ++i) to += (i ? ", " : "") + email.to[i];
    BOOST_TEST(unfolded.find(to + "\r\n") != std::string::npos);
    BOOST_TEST(unfolded.find("Cc: " + email.cc[0] + ", e@x.io\r\n") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(html_makes_a_multipart_alternative) {
    Email email;
    email.to = {"a@x.io"};
    email.cc = {"c@x.io"};
    email.reply_to = "r@x.io";
    email.subject = "Hi";
    email.text = "plain";
    email.html = "<p>rich</p>";
    const auto message = build_message(email, {"noreply@x.io", 0, "<m@x.io>"}, "=_jobq_7");
    BOOST_TEST(message.find("Content-Type: multipart/alternative; boundary=\"=_jobq_7\"\r\n") != std::string::npos);
    BOOST_TEST(message.find("Cc: c@x.io\r\n") != std::string::npos);
    BOOST_TEST(message.find("Reply-To: r@x.io\r\n") != std::string::npos);
    const auto plain = message.find("--=_jobq_7\r\nContent-Type: text/plain; charset=UTF-8\r\n");
    const auto html = message.find("--=_jobq_7\r\nContent-Type: text/html; charset=UTF-8\r\n");
    const auto end = message.find("--=_jobq_7--\r\n");
    BOOST_TEST((plain != std::string::npos && html != std::string::npos && end != std::string::npos));
    BOOST_TEST((plain < html && html < end));
    BOOST_TEST(message.find("<p>rich</p>") != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
