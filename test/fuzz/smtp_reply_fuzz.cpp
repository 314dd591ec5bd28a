// Fuzz target: bytes from an SMTP server, fed to the reply parser in pieces whose sizes
// the input chooses. The parser must never crash, and every reply it returns has a code
// from 200 to 599.

#include "net/smtp/reply.hpp"

#include <cstdint>
#include <cstdlib>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const std::size_t piece = 1 + data[0] % 64;
    std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
    jobq::net::smtp::ReplyParser parser;
    while (!rest.empty()) {
        const auto chunk = rest.substr(0, piece);
        rest.remove_prefix(chunk.size());
        if (!parser.feed(chunk)) break;
        while (auto reply = parser.next())
            if (reply->code < 200 || reply->code > 599) std::abort();
    }
    return 0;
}
