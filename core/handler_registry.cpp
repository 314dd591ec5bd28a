#include "core/handler_registry.hpp"

#include <stdexcept>

namespace jobq::core {

void HandlerRegistry::add(std::unique_ptr<Handler> handler) {
    std::string type(handler->type());
    if (!handlers_.emplace(type, std::move(handler)).second)
        throw std::invalid_argument("duplicate handler for job type " + type);
}

Handler* HandlerRegistry::find(std::string_view type) const {
    const auto it = handlers_.find(type);
    return it == handlers_.end() ? nullptr : it->second.get();
}

std::vector<std::string> HandlerRegistry::types() const {
    std::vector<std::string> out;
    for (const auto& [type, handler] : handlers_) out.push_back(type);
    return out;
}

}  // namespace jobq::core
