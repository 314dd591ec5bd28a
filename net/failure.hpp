#pragma once
// How net/ reports what went wrong with a peer or the network: a value, never an
// exception. An SMTP server's refusal, a timeout, a reset, a failed TLS handshake, a
// webhook address the egress guard denies: each a Failure, which may succeed later
// unless it is permanent. The caller decides what that means for its job.

#include <boost/assert/source_location.hpp>
#include <boost/system/result.hpp>
#include <boost/throw_exception.hpp>

#include <stdexcept>
#include <string>

namespace jobq::net {

struct Failure {
    bool permanent = false;  // trying again cannot help (a 5xx reply, a denied address)
    std::string message;     // for a person, with the peer's reply where there is one; never a password
};

// Thrown by Result<T>::value() on a failure: a bug in the caller, which should have looked.
[[noreturn]] inline void throw_exception_from_error(const Failure& failure, const boost::source_location& loc) {
    boost::throw_exception(std::logic_error("unchecked network failure: " + failure.message), loc);
}

template <class T>
using Result = boost::system::result<T, Failure>;

}  // namespace jobq::net
