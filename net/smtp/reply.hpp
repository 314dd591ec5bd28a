#pragma once
// SMTP replies (RFC 5321 §4.2): a three-digit code and one or more text lines,
// "250-first\r\n250-second\r\n250 last\r\n". Parsed from a byte stream without I/O.

#include <cstddef>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace jobq::net::smtp {

struct Reply {
    int code = 0;
    std::vector<std::string> lines;  // text after the code and separator, one per line

    bool positive() const { return code >= 200 && code < 400; }
    bool permanent_failure() const { return code >= 500; }
    // "550 mailbox unavailable" (lines joined by "; "), for errors and logs.
    std::string text() const;
};

class ReplyParser {
public:
    // Longest line accepted (RFC 5321 allows 512 octets; servers send more in EHLO).
    static constexpr std::size_t max_line = 4096;
    static constexpr std::size_t max_lines = 256;

    // Adds bytes from the server. False once the stream is malformed (then error() says
    // why and the session must be dropped).
    bool feed(std::string_view bytes);

    // The next complete reply, in the order received.
    std::optional<Reply> next();

    // Anything received and not yet taken with next(). Must be false when STARTTLS's
    // handshake starts: bytes there arrived before encryption and could be injected.
    bool has_unread_bytes() const { return !buffer_.empty() || partial_.has_value() || !ready_.empty(); }

    const std::string& error() const { return error_; }

private:
    bool take_line(std::string_view line);

    std::string buffer_;
    std::optional<Reply> partial_;
    std::deque<Reply> ready_;
    std::string error_;
};

}  // namespace jobq::net::smtp
