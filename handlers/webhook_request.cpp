#include "handlers/webhook_request.hpp"

#include <boost/json/serialize.hpp>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <initializer_list>
#include <optional>

namespace jobq::handlers {

namespace json = boost::json;

namespace {

constexpr std::size_t max_url = 2048;
constexpr std::size_t max_headers = 32;
constexpr std::size_t max_header_value = 4096;

// Joins pieces of a message (GCC 12 warns falsely on chains of std::string operator+).
std::string concat(std::initializer_list<std::string_view> parts) {
    std::string out;
    for (const auto part : parts) out += part;
    return out;
}

std::string lower(std::string_view text) {
    std::string out(text);
    std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
    return out;
}

// RFC 9110 token characters.
bool token(std::string_view name) {
    if (name.empty()) return false;
    for (const char c : name) {
        if (std::isalnum(static_cast<unsigned char>(c))) continue;
        if (std::string_view("!#$%&'*+-.^_`|~").find(c) == std::string_view::npos) return false;
    }
    return true;
}

bool clean_value(std::string_view value) {
    for (const char c : value)
        if (c == '\r' || c == '\n' || c == '\0') return false;
    return true;
}

bool valid_host(std::string_view host) {
    if (host.empty() || host.size() > 253) return false;
    for (const char c : host)
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '.' && c != ':') return false;
    return true;
}

std::optional<std::string> read_headers(const json::object& payload,
                                        std::vector<std::pair<std::string, std::string>>& out) {
    const auto* v = payload.if_contains("headers");
    if (!v) return std::nullopt;
    if (!v->is_object()) return std::string("headers must be an object of strings");
    if (v->get_object().size() > max_headers) return concat({"at most ", std::to_string(max_headers), " headers"});
    for (const auto& [name, value] : v->get_object()) {
        const std::string key(name);
        if (!token(key)) return concat({"header name '", std::string_view(key).substr(0, 64), "' is not a valid token"});
        const auto reserved = lower(key);
        if (reserved == "host" || reserved == "content-length" || reserved == "transfer-encoding" ||
            reserved == "content-type" || reserved.starts_with("x-jobq-"))
            return concat({"header ", key, " is set by jobq"});
        if (!value.is_string()) return concat({"header ", key, " must be a string"});
        const auto& text = value.get_string();
        if (!clean_value(text) || text.size() > max_header_value) return concat({"header ", key, " has an invalid value"});
        out.emplace_back(key, std::string(text));
    }
    return std::nullopt;
}

}  // namespace

std::variant<Url, std::string> parse_url(std::string_view text) {
    if (text.size() > max_url) return std::string("url is too long");
    if (!clean_value(text) || text.find(' ') != std::string_view::npos) return std::string("url has invalid characters");
    Url url;
    const auto scheme_end = text.find("://");
    if (scheme_end == std::string_view::npos) return std::string("url must start with http:// or https://");
    const auto scheme = lower(text.substr(0, scheme_end));
    if (scheme != "http" && scheme != "https") return std::string("url must start with http:// or https://");
    url.https = scheme == "https";
    url.port = url.https ? 443 : 80;
    auto rest = text.substr(scheme_end + 3);
    const auto path_start = rest.find_first_of("/?");
    auto authority = rest.substr(0, path_start);
    if (path_start != std::string_view::npos) {
        url.target.clear();
        if (rest[path_start] == '?') url.target += '/';  // "http://host?q" asks for "/?q"
        url.target.append(rest.substr(path_start));
    }
    if (const auto hash = url.target.find('#'); hash != std::string::npos) url.target.resize(hash);
    if (authority.find('@') != std::string_view::npos) return std::string("url must not hold credentials");
    std::string_view port_text;
    if (authority.starts_with('[')) {  // [IPv6]:port
        const auto close = authority.find(']');
        if (close == std::string_view::npos) return std::string("url has an unclosed [ in its host");
        url.host = std::string(authority.substr(1, close - 1));
        if (close + 1 < authority.size()) {
            if (authority[close + 1] != ':') return std::string("url has a malformed host");
            port_text = authority.substr(close + 2);
        }
    } else {
        const auto colon = authority.rfind(':');
        url.host = std::string(authority.substr(0, colon));
        if (colon != std::string_view::npos) port_text = authority.substr(colon + 1);
    }
    if (!valid_host(url.host)) return std::string("url must name a host");
    if (!port_text.empty() || authority.ends_with(':')) {
        unsigned port = 0;
        const auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
        if (ec != std::errc() || end != port_text.data() + port_text.size() || port == 0 || port > 65535)
            return std::string("url has an invalid port");
        url.port = static_cast<std::uint16_t>(port);
    }
    return url;
}

std::variant<Webhook, std::string> parse_webhook(const json::value& payload) {
    const auto* o = payload.if_object();
    if (!o) return std::string("payload must be an object");
    for (const auto& entry : *o)
        if (entry.key() != "url" && entry.key() != "body" && entry.key() != "method" && entry.key() != "headers")
            return concat({"unknown payload field '", entry.key(), "'"});
    Webhook hook;
    const auto* url = o->if_contains("url");
    if (!url || !url->is_string()) return std::string("url is required, as a string");
    auto parsed = parse_url(url->get_string());
    if (auto* problem = std::get_if<std::string>(&parsed)) return *problem;
    hook.url = std::move(std::get<Url>(parsed));
    const auto* body = o->if_contains("body");
    if (!body) return std::string("body is required (any JSON)");
    hook.body = json::serialize(*body);
    if (const auto* method = o->if_contains("method")) {
        if (!method->is_string()) return std::string("method must be POST, PUT or PATCH");
        hook.method = std::string(method->get_string());
        if (hook.method != "POST" && hook.method != "PUT" && hook.method != "PATCH")
            return std::string("method must be POST, PUT or PATCH");
    }
    if (auto problem = read_headers(*o, hook.headers)) return *problem;
    return hook;
}

std::string webhook_signature(std::string_view secret, std::int64_t unix_seconds, std::string_view body) {
    const std::string t = std::to_string(unix_seconds);
    std::string signed_text = t;
    signed_text += '.';
    signed_text += body;
    std::array<unsigned char, EVP_MAX_MD_SIZE> mac{};
    unsigned int length = 0;
    HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
         reinterpret_cast<const unsigned char*>(signed_text.data()), signed_text.size(), mac.data(), &length);
    constexpr std::string_view hex = "0123456789abcdef";
    std::string out = concat({"t=", t, ",v1="});
    for (unsigned int i = 0; i < length; ++i) {
        out += hex[mac[i] >> 4];
        out += hex[mac[i] & 0xf];
    }
    return out;
}

}  // namespace jobq::handlers
