#pragma once
// The interface every job type implements (handlers/ holds one file per type).

#include "core/job.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/json/value.hpp>

#include <optional>
#include <string>
#include <string_view>

namespace jobq::core {

struct Outcome {
    enum class Kind { success, retryable, permanent };
    Kind kind = Kind::success;
    std::string message;
    // Retryable: the peer said when to come back (an HTTP Retry-After); used instead of the
    // backoff. The handler bounds it.
    std::optional<millis> retry_in_ms;

    static Outcome success() { return {Kind::success, {}, {}}; }
    static Outcome retryable(std::string why) { return {Kind::retryable, std::move(why), {}}; }
    static Outcome retryable_after(std::string why, millis delay) { return {Kind::retryable, std::move(why), delay}; }
    static Outcome permanent(std::string why) { return {Kind::permanent, std::move(why), {}}; }
};

struct JobContext {
    boost::asio::any_io_executor executor;
    millis deadline;  // the engine cancels run() when this passes
};

class Handler {
public:
    virtual ~Handler() = default;

    virtual std::string_view type() const = 0;

    // Runs at submission, so a bad payload is a 400 now and not a dead job later.
    // Returns a message for the client when the payload is unacceptable.
    virtual std::optional<std::string> validate(const boost::json::value& payload) const = 0;

    // Performs the job. Must honour cancellation (the engine cancels on deadline and at
    // shutdown); may throw, which counts as a retryable failure.
    virtual boost::asio::awaitable<Outcome> run(const Job& job, JobContext& context) = 0;
};

}  // namespace jobq::core
