#pragma once
// The query string of a request target: "state=queued&limit=10" -> {state: queued, ...}.

#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace jobq::app {

// Percent-decoded parameters ('+' is a space). nullopt when the string is malformed: a bad
// %-escape, or a parameter given twice.
std::optional<std::map<std::string, std::string, std::less<>>> parse_query(std::string_view query);

}  // namespace jobq::app
