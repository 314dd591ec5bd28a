#pragma once
// Address ranges in CIDR notation ("169.254.0.0/16", "fe80::/10"), for the webhook egress
// guard: a request goes out only if the address a name resolved to is in no denied range.
// The ranges are Asio's network_v4 / network_v6. Immutable once parsed: safe to share.

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/network_v4.hpp>
#include <boost/asio/ip/network_v6.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace jobq::net {

class Cidr {
public:
    // nullopt when `text` is not an address with an optional /prefix. A bare address is a
    // range of one (/32 or /128); bits set after the prefix are ignored ("10.1.2.3/8" is 10/8).
    static std::optional<Cidr> parse(std::string_view text);

    // An IPv4 range holds IPv4 addresses and their IPv4-mapped IPv6 forms (::ffff:a.b.c.d);
    // an IPv6 range sees an IPv4 address in its mapped form. Scope ids play no part.
    bool contains(const boost::asio::ip::address& address) const;

private:
    using range = std::variant<boost::asio::ip::network_v4, boost::asio::ip::network_v6>;

    explicit Cidr(range canonical) : range_(canonical) {}

    range range_;  // canonical: no bits set after the prefix, no scope id
};

// A comma-separated list of ranges; an error names the entry that does not parse.
std::optional<std::vector<Cidr>> parse_cidr_list(std::string_view text, std::string* error = nullptr);

bool in_any(const std::vector<Cidr>& ranges, const boost::asio::ip::address& address);

}  // namespace jobq::net
