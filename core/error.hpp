#pragma once
// jobq's error model, in two tiers (as Boost.MySQL's examples):
//   - a store or a network that is down throws (core::StorageError, ...): nothing the
//     caller did is wrong, and nothing was done;
//   - a failure that depends on the input comes back as a value: Result<T>, an Error whose
//     code is a jobq::core::errc. The HTTP API maps each errc to a status in one place.

#include <boost/system/error_category.hpp>
#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>

#include <stdexcept>
#include <string>
#include <type_traits>

namespace jobq::core {

enum class errc {
    invalid = 1,      // the request or a field of it is wrong
    not_found,        // no such job, queue, schedule...
    conflict,         // the thing exists but its state forbids the change
    lease_lost,       // a settle with a token that is no longer the job's lease
    too_large,        // over a size limit
    unauthorized,     // no valid token
    forbidden,        // a valid token that may not do this
    busy,             // back-pressure: try again shortly
    unavailable,      // shutting down, or storage failing: nothing was done
    method_not_allowed,      // the path exists, not with this method
    unsupported_media_type,  // a body in a format the route does not read
};

const boost::system::error_category& jobq_category() noexcept;

inline boost::system::error_code make_error_code(errc e) noexcept { return {static_cast<int>(e), jobq_category()}; }

struct Error {
    boost::system::error_code code;  // a jobq::core::errc, most of the time
    std::string name;                // machine-readable detail for clients ("unknown_type"); empty: the errc's name
    std::string message;             // for a person

    // The errc's own name ("not_found") when `name` is empty.
    std::string code_name() const;
};

inline Error make_error(errc e, std::string message, std::string name = {}) {
    return Error{make_error_code(e), std::move(name), std::move(message)};
}

// Thrown by Result<T>::value() on an error: a bug in the caller, which should have looked.
[[noreturn]] void throw_exception_from_error(const Error& e, const boost::source_location& loc);

template <class T>
using Result = boost::system::result<T, Error>;

// The first tier: the database cannot be reached or written (disk full, I/O error,
// connection lost). Nothing the failed call was to do was done.
class StorageError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

}  // namespace jobq::core

template <>
struct boost::system::is_error_code_enum<jobq::core::errc> : std::true_type {};
