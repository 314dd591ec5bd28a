#pragma once
// The token of an external lease: what a worker shows to settle, extend or release the
// job it leased. 128 random bits from the operating system's CSPRNG, as 32 hex digits;
// compared in constant time, so the time a refusal takes says nothing of how much of a
// guess was right.

#include <string>
#include <string_view>

namespace jobq::core {

std::string new_lease_token();  // throws std::system_error if the CSPRNG fails

bool same_token(std::string_view a, std::string_view b);

}  // namespace jobq::core
