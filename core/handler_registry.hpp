#pragma once

#include "core/handler.hpp"

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace jobq::core {

// Filled once at start-up, read-only afterwards (so safe to share between threads).
class HandlerRegistry {
public:
    // Throws std::invalid_argument when a handler for the same type exists.
    void add(std::unique_ptr<Handler> handler);
    Handler* find(std::string_view type) const;
    std::vector<std::string> types() const;

private:
    std::map<std::string, std::unique_ptr<Handler>, std::less<>> handlers_;
};

}  // namespace jobq::core
