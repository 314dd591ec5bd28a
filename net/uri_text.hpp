#pragma once
// Text that people write as URLs and query strings, made acceptable to an RFC 3986 parser
// (Boost.URL) without refusing what jobq always took: a byte the grammar allows nowhere
// (`|`, `{`, `^`, `"`, raw UTF-8, a '%' that starts no escape, ...) is percent-encoded
// instead of refused. Bytes with a meaning in the grammar are left alone.

#include <string>
#include <string_view>

namespace jobq::net {

enum class UriPart {
    whole,  // a whole URI: '[' and ']' stay (IPv6 literals), '#' after the first and a '%'
            // that starts no escape are encoded
    query,  // a query string: '[', ']' and '#' are encoded too; every '%' stays, so a bad
            // escape is still refused by the parser
};

std::string escape_for_uri(std::string_view text, UriPart part);

}  // namespace jobq::net
