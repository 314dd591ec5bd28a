#include "core/lease_token.hpp"

#include <sys/random.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <system_error>

namespace jobq::core {

std::string new_lease_token() {
    std::array<unsigned char, 16> bytes{};
    std::size_t filled = 0;
    while (filled < bytes.size()) {
        const auto got = ::getrandom(bytes.data() + filled, bytes.size() - filled, 0);
        if (got < 0) {
            if (errno == EINTR) continue;
            throw std::system_error(errno, std::generic_category(), "getrandom");
        }
        filled += static_cast<std::size_t>(got);
    }
    constexpr char hex[] = "0123456789abcdef";
    std::string token;
    token.reserve(2 * bytes.size());
    for (const auto b : bytes) {
        token += hex[b >> 4];
        token += hex[b & 0xf];
    }
    return token;
}

bool same_token(std::string_view a, std::string_view b) {
    // Every byte of the longer is looked at whatever the shorter holds.
    const std::size_t n = std::max(a.size(), b.size());
    unsigned char differ = a.size() == b.size() ? 0 : 1;
    for (std::size_t i = 0; i < n; ++i) {
        const unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
        const unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
        differ |= static_cast<unsigned char>(x ^ y);
    }
    return differ == 0;
}

}  // namespace jobq::core
