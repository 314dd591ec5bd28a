#pragma once
// Housekeeping a store does on the engine's behalf: retention. May throw StorageError.

#include "core/clock.hpp"
#include "core/error.hpp"

#include <boost/asio/awaitable.hpp>

#include <cstddef>
#include <optional>

namespace jobq::core {

class Maintenance {
public:
    virtual ~Maintenance() = default;

    // Retention: deletes at most `limit` jobs, with their attempt history, that are done or
    // cancelled and finished before `finished_before`, or failed and finished before
    // `failed_before` (nullopt: those are kept). Returns how many went.
    virtual boost::asio::awaitable<std::size_t> delete_expired(std::optional<millis> finished_before,
                                                               std::optional<millis> failed_before,
                                                               std::size_t limit) = 0;
};

}  // namespace jobq::core
