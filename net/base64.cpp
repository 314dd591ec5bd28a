#include "net/base64.hpp"

#include <openssl/evp.h>

#include <cstddef>

namespace jobq::net {

void append_base64(std::string& out, std::string_view bytes) {
    // EVP_EncodeBlock takes and returns an int: whole 3-byte groups of at most 3 MiB keep
    // both lengths far inside it, and their encodings join with no padding in between.
    constexpr std::size_t chunk = std::size_t{3} << 20;
    std::size_t at = out.size();
    out.resize(at + 4 * ((bytes.size() + 2) / 3) + 1);  // + 1: EVP_EncodeBlock ends with a NUL
    for (std::size_t i = 0; i < bytes.size(); i += chunk) {
        const auto piece = bytes.substr(i, chunk);
        at += static_cast<std::size_t>(EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data() + at),
                                                       reinterpret_cast<const unsigned char*>(piece.data()),
                                                       static_cast<int>(piece.size())));
    }
    out.resize(at);
}

}  // namespace jobq::net
