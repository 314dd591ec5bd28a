#pragma once
// The `webhook` job's payload and its signature, without any I/O.
//
// Payload: {"url": "http(s)://host[:port]/path?query", "body": any JSON,
//           "method"?: "POST" (default) | "PUT" | "PATCH", "headers"?: {name: value}}
// Header names and values cannot hold CR or LF, and Host, Content-Length,
// Transfer-Encoding and Content-Type are jobq's to set.

#include "core/error.hpp"

#include <boost/json/value.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace jobq::handlers {

struct Url {
    bool https = false;
    std::string host;  // a name, an IPv4 address, or an IPv6 address without brackets
    std::uint16_t port = 80;
    std::string target = "/";  // path and query
};

// The URL, or an errc::invalid Error saying why `text` is not an http or https URL with a host.
// Parsed by Boost.URL (RFC 3986: characters outside it, such as '{' or raw UTF-8, must be
// percent-encoded); no user-info, a port in 1..65535, names of letters, digits, '-' and '.'.
core::Result<Url> parse_url(std::string_view text);

struct Webhook {
    Url url;
    std::string method = "POST";
    std::string body;  // JSON text
    std::vector<std::pair<std::string, std::string>> headers;
};

// The webhook, or an errc::invalid Error whose message tells the client what is wrong.
core::Result<Webhook> parse_webhook(const boost::json::value& payload);

// X-Jobq-Signature: "t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>".
std::string webhook_signature(std::string_view secret, std::int64_t unix_seconds, std::string_view body);

}  // namespace jobq::handlers
