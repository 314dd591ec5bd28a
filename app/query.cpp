#include "app/query.hpp"

#include "net/uri_text.hpp"

#include <boost/url/encoding_opts.hpp>
#include <boost/url/parse_query.hpp>

namespace jobq::app {

std::optional<QueryParams> parse_query(std::string_view query) {
    // No query at all: Boost.URL 1.81's parse_query reads a null pointer as a C string
    // (an empty std::string_view may carry one), so it is never asked.
    if (query.empty()) return QueryParams{};
    // Boost.URL checks the grammar and the escapes; the view it returns decodes lazily. What
    // the grammar allows nowhere ('|', '[', raw UTF-8, ...) was always taken as typed: it is
    // encoded first, so it still is. A bad %-escape stays an error.
    const std::string escaped = net::escape_for_uri(query, net::UriPart::query);
    const auto params = boost::urls::parse_query(escaped);
    if (!params) return std::nullopt;
    const boost::urls::encoding_opts form{true};  // '+' is a space, as HTML forms send it
    QueryParams out;
    for (const auto param : *params) {
        if (param.key.empty()) {
            if (param.has_value) return std::nullopt;  // "=x": a value without a name
            continue;                                  // "a=1&&b=2": nothing between the '&'s
        }
        auto name = param.key.decode(form);
        if (!out.try_emplace(std::move(name), param.value.decode(form)).second) return std::nullopt;
    }
    return out;
}

}  // namespace jobq::app
