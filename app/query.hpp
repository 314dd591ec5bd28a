#pragma once
// The query string of a request target: "state=queued&limit=10" -> {state: queued, ...}.

#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace jobq::app {

using QueryParams = std::map<std::string, std::string, std::less<>>;

// Percent-decoded parameters ('+' is a space); empty pieces ("a=1&&b=2") are skipped.
// nullopt when the string is malformed: a bad %-escape, a character a query may not hold
// unescaped (RFC 3986), a parameter without a name, or a parameter given twice.
std::optional<QueryParams> parse_query(std::string_view query);

}  // namespace jobq::app
