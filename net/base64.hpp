#pragma once
// RFC 4648 base64 encoding (with padding, no line breaks), for SMTP AUTH and MIME encoded
// words. The encoding is OpenSSL's (EVP_EncodeBlock). Thread-safe; throws only bad_alloc.

#include <string>
#include <string_view>

namespace jobq::net {

void append_base64(std::string& out, std::string_view bytes);

inline std::string base64(std::string_view bytes) {
    std::string out;
    append_base64(out, bytes);
    return out;
}

}  // namespace jobq::net
