#pragma once
// The command line of a client command: positional words, `--name value` or `--name=value`
// options, `--flag` switches, and whatever follows a lone `--` (the program `jobq work`
// runs), which is never read as options.

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace jobq::app::cli {

struct ArgumentSpec {
    std::set<std::string, std::less<>> options = {};     // take a value: "queue" for --queue
    std::set<std::string, std::less<>> repeatable = {};  // options that may be given more than once
    std::set<std::string, std::less<>> flags = {};       // take none: "json" for --json
    bool takes_program = false;                     // a `--` and words after it are allowed
};

struct Arguments {
    std::vector<std::string> positional;
    std::map<std::string, std::vector<std::string>, std::less<>> options;  // in the order given
    std::set<std::string, std::less<>> flags;
    std::vector<std::string> program;  // after `--`

    // The last value given for the option, if any.
    std::optional<std::string> option(std::string_view name) const;
    bool flag(std::string_view name) const { return flags.contains(name); }
};

struct UsageError {
    std::string message;
};

// A whole decimal integer ("42", "-7"); none for anything else ("", "4x", "1e3").
std::optional<std::int64_t> parse_integer(std::string_view text);

std::variant<Arguments, UsageError> parse_arguments(const std::vector<std::string>& args, const ArgumentSpec& spec);

}  // namespace jobq::app::cli
