#pragma once
// Whether the store can take submissions now (/readyz). May throw StorageError.

#include "core/error.hpp"

#include <boost/asio/awaitable.hpp>

namespace jobq::core {

class Readiness {
public:
    virtual ~Readiness() = default;

    // Commits a write transaction: true when the database accepts writes now.
    virtual boost::asio::awaitable<bool> writable() = 0;
};

}  // namespace jobq::core
