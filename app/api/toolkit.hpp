#pragma once
// What the resource files (app/api/<resource>.cpp) share to read requests and write
// answers, so that none writes its own: responses, the {id} segment, JSON bodies, query
// parameters, admission in front of group commit, and the one place a failing store is
// caught. Readers return core::Result; the error is what the client is answered, its
// status derived from its errc by the API (app/api.cpp), in one place.

#include "app/api/context.hpp"
#include "app/query.hpp"
#include "app/router.hpp"
#include "core/error.hpp"
#include "core/log.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/json/storage_ptr.hpp>
#include <boost/json/value.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace jobq::app {

// --- responses

net::HttpResponse json_response(unsigned status, std::string body);
net::HttpResponse no_content();  // 204

// 404 not_found "no job <id>".
core::Error no_such_job(std::string_view id);
core::Error no_such_job(core::job_id id);

// 400 invalid_query.
core::Error invalid_query(std::string message);

// --- requests

std::string_view path_of(std::string_view target);   // "/jobs?limit=3" -> "/jobs"
std::string_view query_of(std::string_view target);  // "/jobs?limit=3" -> "limit=3"

// "42" -> 42; nullopt for anything but a positive decimal integer.
std::optional<std::int64_t> parse_positive(std::string_view text);

// The {id} segment as a job id; no such job (404) when it cannot be one.
core::Result<core::job_id> job_id_of(const RouteRequest& request);

// The query string's parameters; 400 invalid_query when malformed (app/query.hpp).
core::Result<QueryParams> query_params(const net::HttpRequest& request);

// Strict parse: at most 64 levels of nesting, UTF-8 checked; 400 invalid_json. The value's
// memory comes from `storage` (the default heap when none is given).
core::Result<boost::json::value> parse_json_body(std::string_view body, boost::json::storage_ptr storage = {});

// A submission is refused while the server drains (503 shutting_down) and unless its body
// is application/json, in any case, with or without parameters (415).
core::Result<void> accepts_submission(const ApiContext& ctx, const net::HttpRequest& request);

// --- wake-ups

// Long polls for leases look again: an external job may be leasable (stored, requeued).
void wake_lease_waiters(ApiContext& ctx);

// --- admission

// Places for jobs waiting on a commit, held for as long as the object lives. Group commit
// would queue writes without bound; admitting at most options.max_pending_writes at a
// time turns overload into a 429 the client can retry instead of growing latency.
class WriteAdmission {
public:
    WriteAdmission(WriteAdmission&& other) noexcept;
    WriteAdmission& operator=(WriteAdmission&&) = delete;
    ~WriteAdmission();

private:
    friend core::Result<WriteAdmission> admit_writes(ApiContext& ctx, std::size_t jobs);
    WriteAdmission(std::atomic<std::size_t>& pending, std::size_t jobs) : pending_(&pending), jobs_(jobs) {}

    std::atomic<std::size_t>* pending_;
    std::size_t jobs_;  // 0 once moved from
};

// Places for `jobs` more, or 429 too_many_requests (with Retry-After).
core::Result<WriteAdmission> admit_writes(ApiContext& ctx, std::size_t jobs);

// --- a failing store

// How a failing store is logged; the store's reason goes with it.
struct StoreFailureLog {
    core::log::Level level = core::log::Level::error;
    std::string_view message = "storage failed";
    std::string_view route = {};  // logged when not empty
    std::string_view job = {};    // logged when not empty
};

void log_store_failure(const StoreFailureLog& how, const char* reason);

// 503 storage_unavailable.
core::Error storage_unavailable();

// Runs `op`. A StorageError (disk full, I/O error) is nothing the client did, and nothing
// was done: it is logged with the store's reason, which the client never sees, and comes
// back as storage_unavailable. This is the one place it is caught: the API runs every
// route handler through it, and a probe that reports the store's state (/readyz) asks it
// too.
template <class T>
boost::asio::awaitable<core::Result<T>> unless_store_fails(boost::asio::awaitable<T> op, StoreFailureLog how) {
    try {
        co_return co_await std::move(op);
    } catch (const core::StorageError& e) {
        log_store_failure(how, e.what());
    }
    co_return core::Result<T>(boost::system::in_place_error, storage_unavailable());
}

}  // namespace jobq::app
