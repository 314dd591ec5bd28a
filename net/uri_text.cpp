#include "net/uri_text.hpp"

#include <cctype>

namespace jobq::net {

namespace {

bool hex(char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; }

// Unreserved and sub-delimiters, and the general delimiters every part may hold.
bool allowed_anywhere(char c) {
    if (std::isalnum(static_cast<unsigned char>(c)) != 0) return true;
    switch (c) {
        case '-': case '.': case '_': case '~':                                          // unreserved
        case '!': case '$': case '&': case '\'': case '(': case ')': case '*': case '+':  // sub-delims
        case ',': case ';': case '=':
        case ':': case '/': case '?': case '@':                                          // gen-delims
            return true;
        default:
            return false;
    }
}

void append_escaped(std::string& out, unsigned char byte) {
    constexpr char digits[] = "0123456789ABCDEF";
    out += '%';
    out += digits[byte >> 4];
    out += digits[byte & 0xF];
}

}  // namespace

std::string escape_for_uri(std::string_view text, UriPart part) {
    std::string out;
    out.reserve(text.size());
    bool fragment = false;
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        bool keep = allowed_anywhere(c);
        // A query keeps every '%': a bad escape there is the client's error to hear about.
        if (c == '%') keep = part == UriPart::query || (i + 2 < text.size() && hex(text[i + 1]) && hex(text[i + 2]));
        if (c == '[' || c == ']') keep = part == UriPart::whole;
        if (c == '#') {
            keep = part == UriPart::whole && !fragment;
            fragment = true;
        }
        if (keep) out += c;
        else append_escaped(out, static_cast<unsigned char>(c));
    }
    return out;
}

}  // namespace jobq::net
