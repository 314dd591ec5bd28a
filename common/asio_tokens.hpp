#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace jobq {

// The token vocabulary (STYLE rule 4): `auto [ec, n] = co_await op(..., use_nothrow)`, errors as values.
inline constexpr auto use_nothrow = boost::asio::as_tuple(boost::asio::use_awaitable);

}  // namespace jobq
