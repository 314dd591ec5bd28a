#include "net/cidr.hpp"

#include <charconv>

namespace jobq::net {

namespace ip = boost::asio::ip;

namespace {

std::string_view trim(std::string_view s) {
    while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
    while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
    return s;
}

// Decimal digits only, at most `bits`. Not make_network_v4/v6's own string parsing: it
// reads the prefix with atoi, which overflows on a long digit string ("/4294967304" is /8).
std::optional<unsigned short> prefix_of(std::string_view digits, unsigned bits) {
    unsigned prefix = 0;
    const auto [end, err] = std::from_chars(digits.data(), digits.data() + digits.size(), prefix);
    if (err != std::errc() || end != digits.data() + digits.size() || digits.empty() || prefix > bits)
        return std::nullopt;
    return static_cast<unsigned short>(prefix);
}

// Ranges match on the address bits alone: a link-local address a lookup returns with its
// interface ("fe80::1%eth0") is still in fe80::/10.
ip::address_v6 unscoped(const ip::address_v6& address) { return ip::address_v6(address.to_bytes()); }

// network_v4/v6's is_subnet_of excludes the range itself, so a /32 would hold nothing:
// the address is in the range when cutting it to the range's prefix gives the range.
bool in_range(const ip::network_v4& range, const ip::address& address) {
    if (address.is_v6() && !address.to_v6().is_v4_mapped()) return false;
    const auto v4 = address.is_v4() ? address.to_v4() : ip::make_address_v4(ip::v4_mapped, address.to_v6());
    return ip::make_network_v4(v4, range.prefix_length()).canonical() == range;
}

bool in_range(const ip::network_v6& range, const ip::address& address) {
    const auto v6 = address.is_v6() ? unscoped(address.to_v6()) : ip::make_address_v6(ip::v4_mapped, address.to_v4());
    return ip::make_network_v6(v6, range.prefix_length()).canonical() == range;
}

}  // namespace

std::optional<Cidr> Cidr::parse(std::string_view text) {
    text = trim(text);
    const auto slash = text.find('/');
    boost::system::error_code ec;
    const auto address = ip::make_address(text.substr(0, slash), ec);
    if (ec) return std::nullopt;
    const unsigned bits = address.is_v4() ? 32 : 128;
    auto prefix = std::optional<unsigned short>(bits);
    if (slash != std::string_view::npos) prefix = prefix_of(text.substr(slash + 1), bits);
    if (!prefix) return std::nullopt;
    if (address.is_v4()) return Cidr(ip::make_network_v4(address.to_v4(), *prefix).canonical());
    return Cidr(ip::make_network_v6(unscoped(address.to_v6()), *prefix).canonical());
}

bool Cidr::contains(const ip::address& address) const {
    return std::visit([&](const auto& range) { return in_range(range, address); }, range_);
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
