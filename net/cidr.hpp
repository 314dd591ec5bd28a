#pragma once
// Address ranges in CIDR notation ("169.254.0.0/16", "fe80::/10"), for the webhook egress
// guard: a request goes out only if the address a name resolved to is in no denied range.

#include <boost/asio/ip/address.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace jobq::net {

class Cidr {
public:
    // nullopt when `text` is not an address with an optional /prefix.
    static std::optional<Cidr> parse(std::string_view text);

    bool contains(const boost::asio::ip::address& address) const;

private:
    Cidr(boost::asio::ip::address network, unsigned prefix) : network_(network), prefix_(prefix) {}

    boost::asio::ip::address network_;
    unsigned prefix_;
};

// A comma-separated list of ranges; an error names the entry that does not parse.
std::optional<std::vector<Cidr>> parse_cidr_list(std::string_view text, std::string* error = nullptr);

bool in_any(const std::vector<Cidr>& ranges, const boost::asio::ip::address& address);

}  // namespace jobq::net
