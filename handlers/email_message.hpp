#pragma once
// The `email` job's payload and the message it becomes, without any I/O.
//
// Payload: {"email" | "to": address or [addresses], "subject", "body" | "message",
//           "html"?, "cc"?: address or [addresses], "reply_to"?: address}
// ("email" and "message" are the original project's names.)
//
// Addresses are plain RFC 5321 mailboxes (local@domain) with nothing that could end a
// command or a header: no CR, LF, '<', '>', spaces or ESMTP parameters.

#include "core/clock.hpp"
#include "core/error.hpp"

#include <boost/json/value.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace jobq::handlers {

struct Email {
    std::vector<std::string> to;
    std::vector<std::string> cc;
    std::optional<std::string> reply_to;
    std::string subject;
    std::string text;
    std::optional<std::string> html;
};

// The email, or an errc::invalid Error whose message tells the client what is wrong (a
// 400 at submission).
core::Result<Email> parse_email(const boost::json::value& payload);

bool valid_address(std::string_view address);

// The headers that depend on the sending, not on the payload.
struct Envelope {
    std::string from;
    core::millis date = 0;
    std::string message_id;  // "<...@...>"; the same for every attempt of one job
};

// The RFC 5322 message: headers, then UTF-8 text/plain in quoted-printable, or
// multipart/alternative with an HTML part when there is one. Lines end in CRLF.
// `boundary` separates the parts: it must contain "=_", which quoted-printable output
// never holds ('=' is always followed by two hex digits or a line break there).
std::string build_message(const Email& email, const Envelope& envelope, std::string_view boundary);

// "=?UTF-8?B?...?=" encoded words when `text` is not printable ASCII, folded to fit.
std::string encode_header_text(std::string_view text);

// RFC 2045 quoted-printable of UTF-8 text; line breaks become CRLF.
std::string quoted_printable(std::string_view text);

// "Sat, 28 Nov 2026 08:59:38 +0000"
std::string rfc5322_date(core::millis t);

}  // namespace jobq::handlers
