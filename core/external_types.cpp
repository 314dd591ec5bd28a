#include "core/external_types.hpp"

#include <algorithm>

namespace jobq::core {

namespace {

constexpr std::size_t max_type_length = 128;

bool type_char(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
           c == ':' || c == '-';
}

std::string_view trimmed(std::string_view s) {
    while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
    while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
    return s;
}

}  // namespace

bool valid_type_name(std::string_view name) {
    return !name.empty() && name.size() <= max_type_length && std::all_of(name.begin(), name.end(), type_char);
}

Result<ExternalTypes> ExternalTypes::parse(std::string_view list, const std::vector<std::string>& built_in) {
    ExternalTypes types;
    types.built_in_ = built_in;
    while (!list.empty()) {
        const auto comma = list.find(',');
        const auto entry = trimmed(list.substr(0, comma));
        list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
        if (entry.empty()) continue;
        if (entry.back() == '*') {
            const auto prefix = entry.substr(0, entry.size() - 1);
            if (!prefix.empty() && !valid_type_name(prefix))
                return make_error(errc::invalid, "external type '" + std::string(entry) +
                                                     "': a name is [A-Za-z0-9_.:-]{1,128}, optionally ending in *");
            types.prefixes_.emplace_back(prefix);
            continue;
        }
        if (!valid_type_name(entry))
            return make_error(errc::invalid,
                              "external type '" + std::string(entry) + "': a name is [A-Za-z0-9_.:-]{1,128}");
        if (std::find(built_in.begin(), built_in.end(), entry) != built_in.end())
            return make_error(errc::invalid, "external type '" + std::string(entry) + "' is built in");
        types.names_.emplace_back(entry);
    }
    return types;
}

bool ExternalTypes::admits(std::string_view type) const {
    if (!valid_type_name(type)) return false;
    if (std::find(built_in_.begin(), built_in_.end(), type) != built_in_.end()) return false;
    if (std::find(names_.begin(), names_.end(), type) != names_.end()) return true;
    return std::any_of(prefixes_.begin(), prefixes_.end(),
                       [&](const std::string& prefix) { return type.starts_with(prefix); });
}

}  // namespace jobq::core
