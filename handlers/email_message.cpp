#include "handlers/email_message.hpp"

#include "net/base64.hpp"

#include <algorithm>
#include <array>
#include <ctime>

namespace jobq::handlers {

namespace json = boost::json;

namespace {

constexpr std::size_t max_recipients = 100;
constexpr std::size_t max_subject = 900;  // a header line stays under 998 octets
constexpr std::size_t max_body = 512 * 1024;
constexpr std::size_t max_line = 76;  // RFC 2045 limit for encoded lines

// A payload the client must correct: a 400 at submission, a permanent failure at a run.
core::Error invalid(std::string message) { return core::make_error(core::errc::invalid, std::move(message)); }

bool dot_atom_char(char c) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
    return std::string_view("!#$%&'*+/=?^_`{|}~-.").find(c) != std::string_view::npos;
}

bool domain_label_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
}

bool valid_domain(std::string_view domain) {
    if (domain.empty() || domain.size() > 253) return false;
    std::size_t start = 0;
    while (start <= domain.size()) {
        const auto end = std::min(domain.find('.', start), domain.size());
        const auto label = domain.substr(start, end - start);
        if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') return false;
        for (const char c : label)
            if (!domain_label_char(c)) return false;
        start = end + 1;
    }
    return true;
}

// One address or an array of them, under `field`.
std::optional<std::string> read_addresses(const json::object& o, std::string_view field, std::vector<std::string>& out) {
    const auto* v = o.if_contains(field);
    if (!v) return std::nullopt;
    std::vector<const json::value*> items;
    if (v->is_array())
        for (const auto& item : v->get_array()) items.push_back(&item);
    else
        items.push_back(v);
    if (items.empty()) return std::string(field) + " must name at least one address";
    for (const auto* item : items) {
        if (!item->is_string() || !valid_address(item->get_string()))
            return std::string(field) + " must be an email address (local@domain) or an array of them";
        out.emplace_back(item->get_string());
    }
    return std::nullopt;
}

std::optional<std::string> read_text(const json::object& o, std::string_view field, std::size_t max,
                                     std::optional<std::string>& out) {
    const auto* v = o.if_contains(field);
    if (!v) return std::nullopt;
    if (!v->is_string()) return std::string(field) + " must be a string";
    if (v->get_string().size() > max) return std::string(field) + " is longer than " + std::to_string(max) + " bytes";
    out = std::string(v->get_string());
    return std::nullopt;
}

// The first of two synonyms that is present; both at once is an error.
std::optional<std::string> read_either(const json::object& o, std::string_view a, std::string_view b, std::size_t max,
                                       std::optional<std::string>& out) {
    if (o.contains(a) && o.contains(b)) return std::string(a) + " and " + std::string(b) + " cannot both be given";
    if (auto e = read_text(o, a, max, out)) return e;
    return read_text(o, b, max, out);
}

bool printable_ascii(std::string_view text) {
    for (const char c : text)
        if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) > 0x7e) return false;
    return true;
}

// Length of the UTF-8 sequence that starts with `lead` (1 for a stray continuation byte).
std::size_t utf8_length(unsigned char lead) {
    if (lead >= 0xf0) return 4;
    if (lead >= 0xe0) return 3;
    if (lead >= 0xc0) return 2;
    return 1;
}

void append_header(std::string& out, std::string_view name, std::string_view value) {
    out += name;
    out += ": ";
    out += value;
    out += "\r\n";
}

// The value of an address header ("To: a, b"), folded before an address that would take
// the line past 78 characters (RFC 5322 2.1.1, 2.2.3). An address is at most 254
// characters, so no line comes near the 998 limit however many recipients there are.
std::string address_list(std::string_view name, const std::vector<std::string>& addresses) {
    std::string out;
    std::size_t line = name.size() + 2;  // "To: "
    for (const auto& address : addresses) {
        if (!out.empty()) {
            out += ',';
            ++line;
            if (line + 1 + address.size() > 78) {
                out += "\r\n ";
                line = 1;
            } else {
                out += ' ';
                ++line;
            }
        }
        out += address;
        line += address.size();
    }
    return out;
}

void append_part(std::string& out, std::string_view content_type, std::string_view text) {
    append_header(out, "Content-Type", std::string(content_type) + "; charset=UTF-8");
    append_header(out, "Content-Transfer-Encoding", "quoted-printable");
    out += "\r\n";
    out += quoted_printable(text);
    out += "\r\n";
}

}  // namespace

bool valid_address(std::string_view address) {
    if (address.size() > 254) return false;
    const auto at = address.rfind('@');
    if (at == std::string_view::npos || at == 0 || at > 64) return false;
    const auto local = address.substr(0, at);
    if (local.front() == '.' || local.back() == '.' || local.find("..") != std::string_view::npos) return false;
    for (const char c : local)
        if (!dot_atom_char(c)) return false;
    return valid_domain(address.substr(at + 1));
}

core::Result<Email> parse_email(const json::value& payload) {
    const auto* o = payload.if_object();
    if (!o) return invalid("payload must be an object");
    for (const auto& entry : *o) {
        constexpr std::array<std::string_view, 8> known = {"email", "to", "subject", "body", "message", "html", "cc",
                                                           "reply_to"};
        if (std::find(known.begin(), known.end(), entry.key()) == known.end())
            return invalid("unknown payload field '" + std::string(entry.key()) + "'");
    }
    Email email;
    if (o->contains("email") && o->contains("to")) return invalid("email and to cannot both be given");
    if (auto e = read_addresses(*o, "email", email.to)) return invalid(std::move(*e));
    if (auto e = read_addresses(*o, "to", email.to)) return invalid(std::move(*e));
    if (email.to.empty()) return invalid("to (or email) is required");
    if (auto e = read_addresses(*o, "cc", email.cc)) return invalid(std::move(*e));
    if (email.to.size() + email.cc.size() > max_recipients)
        return invalid("at most " + std::to_string(max_recipients) + " recipients");
    std::vector<std::string> reply_to;
    if (auto e = read_addresses(*o, "reply_to", reply_to)) return invalid(std::move(*e));
    if (reply_to.size() > 1) return invalid("reply_to must be one address");
    if (!reply_to.empty()) email.reply_to = reply_to.front();

    std::optional<std::string> subject, text;
    if (auto e = read_text(*o, "subject", max_subject, subject)) return invalid(std::move(*e));
    if (!subject) return invalid("subject is required");
    if (subject->find_first_of("\r\n") != std::string::npos) return invalid("subject must be one line");
    email.subject = std::move(*subject);
    if (auto e = read_either(*o, "body", "message", max_body, text)) return invalid(std::move(*e));
    if (!text) return invalid("body (or message) is required");
    email.text = std::move(*text);
    if (auto e = read_text(*o, "html", max_body, email.html)) return invalid(std::move(*e));
    return email;
}

std::string encode_header_text(std::string_view text) {
    if (printable_ascii(text)) return std::string(text);
    // Encoded words of at most 75 characters, split between UTF-8 sequences, one per line.
    constexpr std::string_view prefix = "=?UTF-8?B?";
    constexpr std::size_t max_raw = 45;  // 60 base64 characters + 12 of framing < 75
    std::string out;
    std::size_t start = 0;
    while (start < text.size()) {
        std::size_t end = start;
        while (end < text.size()) {
            const std::size_t next = end + utf8_length(static_cast<unsigned char>(text[end]));
            if (next - start > max_raw) break;
            end = std::min(next, text.size());
        }
        if (end == start) end = std::min(start + max_raw, text.size());
        if (!out.empty()) out += "\r\n ";
        out += prefix;
        net::append_base64(out, text.substr(start, end - start));
        out += "?=";
        start = end;
    }
    return out;
}

std::string quoted_printable(std::string_view text) {
    constexpr std::string_view hex = "0123456789ABCDEF";
    std::string out;
    std::size_t line_length = 0;
    const auto put = [&](std::string_view piece) {
        if (line_length + piece.size() > max_line - 1) {  // room for the soft break's '='
            out += "=\r\n";
            line_length = 0;
        }
        out += piece;
        line_length += piece.size();
    };
    for (std::size_t i = 0; i < text.size(); ++i) {
        const auto c = static_cast<unsigned char>(text[i]);
        if (c == '\r' || c == '\n') {
            if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
            out += "\r\n";
            line_length = 0;
            continue;
        }
        const bool line_end_follows = i + 1 == text.size() || text[i + 1] == '\r' || text[i + 1] == '\n';
        const bool literal = (c >= 33 && c <= 126 && c != '=') || ((c == ' ' || c == '\t') && !line_end_follows);
        if (literal) {
            put(text.substr(i, 1));
        } else {
            const char escaped[3] = {'=', hex[c >> 4], hex[c & 0xf]};
            put(std::string_view(escaped, 3));
        }
    }
    return out;
}

std::string rfc5322_date(core::millis t) {
    const std::time_t seconds = static_cast<std::time_t>(t / 1000);
    std::tm utc{};
    gmtime_r(&seconds, &utc);
    char buf[64];
    const auto n = std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S +0000", &utc);
    return std::string(buf, n);
}

std::string build_message(const Email& email, const Envelope& envelope, std::string_view boundary) {
    std::string out;
    append_header(out, "Date", rfc5322_date(envelope.date));
    append_header(out, "Message-ID", envelope.message_id);
    append_header(out, "From", envelope.from);
    append_header(out, "To", address_list("To", email.to));
    if (!email.cc.empty()) append_header(out, "Cc", address_list("Cc", email.cc));
    if (email.reply_to) append_header(out, "Reply-To", *email.reply_to);
    append_header(out, "Subject", encode_header_text(email.subject));
    append_header(out, "MIME-Version", "1.0");
    if (!email.html) {
        append_part(out, "text/plain", email.text);
        return out;
    }
    append_header(out, "Content-Type", "multipart/alternative; boundary=\"" + std::string(boundary) + "\"");
    out += "\r\n";
    for (const auto& [type, text] : {std::pair<std::string_view, std::string_view>{"text/plain", email.text},
                                     std::pair<std::string_view, std::string_view>{"text/html", *email.html}}) {
        out += "--";
        out += boundary;
        out += "\r\n";
        append_part(out, type, text);
    }
    out += "--";
    out += boundary;
    out += "--\r\n";
    return out;
}

}  // namespace jobq::handlers
