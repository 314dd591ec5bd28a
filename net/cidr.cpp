#include "net/cidr.hpp"

#include <array>
#include <charconv>

namespace jobq::net {

namespace ip = boost::asio::ip;

namespace {

// The address as 16 bytes: IPv4 as IPv4-mapped IPv6, so one comparison serves both.
std::array<unsigned char, 16> bytes_of(const ip::address& address) {
    if (address.is_v6()) return address.to_v6().to_bytes();
    return ip::make_address_v6(ip::v4_mapped, address.to_v4()).to_bytes();
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
    while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
    return s;
}

}  // namespace

std::optional<Cidr> Cidr::parse(std::string_view text) {
    text = trim(text);
    const auto slash = text.find('/');
    boost::system::error_code ec;
    const auto address = ip::make_address(std::string(text.substr(0, slash)), ec);
    if (ec) return std::nullopt;
    const unsigned bits = address.is_v4() ? 32 : 128;
    unsigned prefix = bits;
    if (slash != std::string_view::npos) {
        const auto digits = text.substr(slash + 1);
        const auto [end, err] = std::from_chars(digits.data(), digits.data() + digits.size(), prefix);
        if (err != std::errc() || end != digits.data() + digits.size() || digits.empty() || prefix > bits)
            return std::nullopt;
    }
    // Stored as IPv6 bits: an IPv4 prefix counts from bit 96.
    return Cidr(address, address.is_v4() ? prefix + 96 : prefix);
}

bool Cidr::contains(const ip::address& address) const {
    const auto a = bytes_of(address);
    const auto n = bytes_of(network_);
    for (unsigned bit = 0; bit < prefix_; ++bit) {
        const unsigned mask = 0x80u >> (bit % 8);
        if ((a[bit / 8] & mask) != (n[bit / 8] & mask)) return false;
    }
    return true;
}

std::optional<std::vector<Cidr>> parse_cidr_list(std::string_view text, std::string* error) {
    std::vector<Cidr> ranges;
    while (!trim(text).empty()) {
        const auto comma = text.find(',');
        const auto entry = trim(text.substr(0, comma));
        text = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
        if (entry.empty()) continue;
        auto cidr = Cidr::parse(entry);
        if (!cidr) {
            if (error) {
                error->assign(1, '\'');
                error->append(entry);
                error->append("' is not an address range such as 10.0.0.0/8");
            }
            return std::nullopt;
        }
        ranges.push_back(*cidr);
    }
    return ranges;
}

bool in_any(const std::vector<Cidr>& ranges, const ip::address& address) {
    for (const auto& range : ranges)
        if (range.contains(address)) return true;
    return false;
}

}  // namespace jobq::net
