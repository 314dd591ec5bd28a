#pragma once
// Whether the long-lived loops that run jobs are alive, for readiness (/readyz).
// Thread-safe.

#include <string>
#include <vector>

namespace jobq::core {

class LoopHealth {
public:
    virtual ~LoopHealth() = default;
    // The loops that are not running although they should be; empty when all is well
    // (and before they start, and once they stop).
    virtual std::vector<std::string> loops_not_running() const = 0;
};

}  // namespace jobq::core
