#include "app/cli/arguments.hpp"

#include <charconv>

namespace jobq::app::cli {

std::optional<std::int64_t> parse_integer(std::string_view text) {
    std::int64_t value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size() || text.empty()) return std::nullopt;
    return value;
}

std::optional<std::string> Arguments::option(std::string_view name) const {
    const auto it = options.find(name);
    if (it == options.end() || it->second.empty()) return std::nullopt;
    return it->second.back();
}

std::variant<Arguments, UsageError> parse_arguments(const std::vector<std::string>& args, const ArgumentSpec& spec) {
    Arguments parsed;
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string& word = args[i];
        if (word == "--") {
            if (!spec.takes_program) return UsageError{"unexpected '--'"};
            parsed.program.assign(args.begin() + static_cast<std::ptrdiff_t>(i) + 1, args.end());
            break;
        }
        // "-" alone is a value (stdin), not an option.
        if (!word.starts_with("--")) {
            if (word.size() > 1 && word.front() == '-') return UsageError{"unknown option '" + word + "'"};
            parsed.positional.push_back(word);
            continue;
        }
        const auto equals = word.find('=');
        const std::string name = word.substr(2, equals == std::string::npos ? std::string::npos : equals - 2);
        if (spec.flags.contains(name)) {
            if (equals != std::string::npos) return UsageError{"--" + name + " takes no value"};
            parsed.flags.insert(name);
            continue;
        }
        if (!spec.options.contains(name)) return UsageError{"unknown option '--" + name + "'"};
        std::string value;
        if (equals != std::string::npos) {
            value = word.substr(equals + 1);
        } else if (i + 1 < args.size()) {
            value = args[++i];
        } else {
            return UsageError{"--" + name + " needs a value"};
        }
        auto& values = parsed.options[name];
        if (!values.empty() && !spec.repeatable.contains(name)) return UsageError{"--" + name + " is given twice"};
        values.push_back(std::move(value));
    }
    return parsed;
}

}  // namespace jobq::app::cli
