#include "handlers/webhook_request.hpp"

#include "net/uri_text.hpp"

#include <boost/json/serialize.hpp>
#include <boost/url/host_type.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/scheme.hpp>
#include <boost/url/url_view.hpp>

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
namespace urls = boost::urls;

namespace {

constexpr std::size_t max_url = 2048;
constexpr std::size_t max_headers = 32;
constexpr std::size_t max_header_value = 4096;

// A payload the client must correct: a 400 at submission, a permanent failure at a run.
core::Error invalid(std::string message) { return core::make_error(core::errc::invalid, std::move(message)); }

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

// parse_uri says only where the grammar broke; the scheme tells the likelier cause apart:
// "x.io/path" lacks one, "http://[::1/" is malformed.
std::string unparsable(std::string_view text) {
    const auto scheme = lower(text.substr(0, text.find("://")));
    if (scheme != "http" && scheme != "https") return "url must start with http:// or https://";
    return "url is not a valid URL (RFC 3986)";
}

// After an authority RFC 3986 allows only an empty path or one that starts with '/'.
// Boost.URL 1.81 lets others through (boostorg/url#636, fixed in 1.82): "http://x.io:80:90/"
// reads as port 80 and path ":90/".
bool rootless_path(const urls::url_view& uri) {
    const auto path = uri.encoded_path();
    return uri.has_authority() && !path.empty() && path.front() != '/';
}

// Boost.URL 1.81 reads a name that begins with a dotted quad ("10.0.0.1.nip.io") as that
// IPv4 address and a path ".nip.io" (boostorg/url#755, fixed in 1.82).
bool dotted_quad_name(const urls::url_view& uri) {
    return uri.host_type() == urls::host_type::ipv4 && rootless_path(uri);
}

// The URL again with a letter before the host, which 1.81 then reads as the name it is;
// host_of takes the letter back off.
std::string letter_before_host(std::string_view text, const urls::url_view& uri) {
    const auto at = static_cast<std::size_t>(uri.encoded_host().data() - text.data());
    std::string out(text.substr(0, at));
    out += 'x';
    out += text.substr(at);
    return out;
}

// parse_uri with 1.81's misreadings undone or refused; `reread` keeps the text a misread
// name was parsed again from (the view points into it) and is empty otherwise.
std::optional<urls::url_view> read_uri(std::string_view text, std::string& reread) {
    auto uri = urls::parse_uri(text);
    if (uri && dotted_quad_name(*uri)) {
        reread = letter_before_host(text, *uri);
        uri = urls::parse_uri(reread);
    }
    if (!uri || rootless_path(*uri)) return std::nullopt;
    return *uri;
}

// A name or an IP literal without its brackets, as written, after `skip` characters; names
// are held to the characters DNS names use, which leaves out percent-escapes. An IPvFuture
// literal ("[v1.x]") is no address we can connect to.
std::optional<std::string> host_of(const urls::url_view& uri, std::size_t skip) {
    if (uri.host_type() == urls::host_type::ipvfuture) return std::nullopt;
    std::string host(uri.encoded_host_address().substr(skip));
    if (!valid_host(host)) return std::nullopt;
    return host;
}

// Read here rather than by port_number(): Boost.URL 1.81 misses some overflows of 16 bits
// ("72820" gives 7284), and an empty port ("x.io:") must be an error, not the default.
std::optional<std::uint16_t> port_of(const urls::url_view& uri, bool https) {
    if (!uri.has_port()) return static_cast<std::uint16_t>(https ? 443 : 80);
    const auto text = uri.port();
    unsigned port = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), port);
    if (ec != std::errc() || end != text.data() + text.size() || port == 0 || port > 65535) return std::nullopt;
    return static_cast<std::uint16_t>(port);
}

// The path and query as written, still percent-encoded; the fragment is the client's own.
std::string target_of(const urls::url_view& uri) {
    std::string target = uri.encoded_path().empty() ? "/" : std::string(uri.encoded_path());
    if (uri.has_query()) {
        target += '?';  // "http://host?q" asks for "/?q"
        target += uri.encoded_query();
    }
    return target;
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

// The grammar is Boost.URL's (RFC 3986); the rules on top are ours.
core::Result<Url> parse_url(std::string_view text) {
    if (text.size() > max_url) return invalid("url is too long");
    if (!clean_value(text) || text.find(' ') != std::string_view::npos) return invalid("url has invalid characters");
    // What RFC 3986 allows nowhere is sent percent-encoded, as jobq always accepted it.
    const std::string escaped = net::escape_for_uri(text, net::UriPart::whole);
    std::string reread;
    const auto uri = read_uri(escaped, reread);
    if (!uri) return invalid(unparsable(escaped));
    const auto scheme = uri->scheme_id();  // case-insensitive
    if ((scheme != urls::scheme::http && scheme != urls::scheme::https) || !uri->has_authority())
        return invalid("url must start with http:// or https://");
    if (uri->has_userinfo()) return invalid("url must not hold credentials");
    Url url;
    url.https = scheme == urls::scheme::https;
    auto host = host_of(*uri, reread.empty() ? 0 : 1);
    if (!host) return invalid("url must name a host");
    const auto port = port_of(*uri, url.https);
    if (!port) return invalid("url has an invalid port");
    url.host = std::move(*host);
    url.port = *port;
    url.target = target_of(*uri);
    return url;
}

core::Result<Webhook> parse_webhook(const json::value& payload) {
    const auto* o = payload.if_object();
    if (!o) return invalid("payload must be an object");
    for (const auto& entry : *o)
        if (entry.key() != "url" && entry.key() != "body" && entry.key() != "method" && entry.key() != "headers")
            return invalid(concat({"unknown payload field '", entry.key(), "'"}));
    Webhook hook;
    const auto* url = o->if_contains("url");
    if (!url || !url->is_string()) return invalid("url is required, as a string");
    auto parsed = parse_url(url->get_string());
    if (!parsed) return parsed.error();
    hook.url = std::move(*parsed);
    const auto* body = o->if_contains("body");
    if (!body) return invalid("body is required (any JSON)");
    hook.body = json::serialize(*body);
    if (const auto* method = o->if_contains("method")) {
        if (!method->is_string()) return invalid("method must be POST, PUT or PATCH");
        hook.method = std::string(method->get_string());
        if (hook.method != "POST" && hook.method != "PUT" && hook.method != "PATCH")
            return invalid("method must be POST, PUT or PATCH");
    }
    if (auto problem = read_headers(*o, hook.headers)) return invalid(std::move(*problem));
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
