#pragma once
// The job types run by workers outside jobq (--external-types): stored like any job,
// never run by the built-in workers, handed out only by a lease. Read-only once built.

#include "core/error.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace jobq::core {

// A type name: [A-Za-z0-9_.:-]{1,128}.
bool valid_type_name(std::string_view name);

class ExternalTypes {
public:
    ExternalTypes() = default;  // none

    // "a,b,prefix*" (a name ending in * admits every name it begins), or "*" alone (every
    // name not built in). Refuses a malformed name and a built-in one.
    static Result<ExternalTypes> parse(std::string_view list, const std::vector<std::string>& built_in);

    // True for a valid name the list admits that is not built in.
    bool admits(std::string_view type) const;
    bool empty() const { return names_.empty() && prefixes_.empty(); }

private:
    std::vector<std::string> names_;
    std::vector<std::string> prefixes_;  // "" for "*"
    std::vector<std::string> built_in_;
};

}  // namespace jobq::core
