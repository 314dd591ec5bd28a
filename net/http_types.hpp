#pragma once
// Plain request and response values, so routing code never includes Beast.

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace jobq::net {

struct HttpRequest {
    std::string method;  // "GET", "POST", ...
    std::string target;  // path and query, as sent
    std::string content_type;
    std::string authorization;  // the Authorization header; never logged
    std::string body;
};

struct HttpResponse {
    unsigned status = 200;
    std::string body;
    // A literal (static storage): responses name one of a few fixed types, and a string
    // would allocate for this one on every response (16 characters: past the short-string
    // buffer).
    std::string_view content_type = "application/json";
    std::vector<std::pair<std::string, std::string>> headers;
};

}  // namespace jobq::net
