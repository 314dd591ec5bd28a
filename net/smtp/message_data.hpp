#pragma once
// The bytes that follow a 354 reply to DATA (RFC 5321 §4.5.2): every line ends in CRLF,
// a line that starts with "." gets a second one, and ".\r\n" ends the message.

#include <string>
#include <string_view>

namespace jobq::net::smtp {

// A bare LF or a bare CR in `message` becomes CRLF; a missing final line ending is added.
std::string data_section(std::string_view message);

}  // namespace jobq::net::smtp
