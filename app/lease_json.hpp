#pragma once
// JSON of the lease protocol: the bodies external workers send (POST /leases, ack, fail,
// extend, release, /leases/settle), validated strictly (unknown fields, wrong types and
// out-of-range numbers are errc::invalid errors named as the API answers them), and the
// leased job as it is answered.

#include "core/error.hpp"
#include "core/external_types.hpp"
#include "core/lease_store.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace jobq::app {

struct LeaseAsk {
    std::vector<std::string> queues;  // empty: any
    std::vector<std::string> types;   // empty: every external type
    std::size_t max = 1;
    core::millis wait_ms = 0;
    std::optional<core::millis> lease_ms;  // absent: the visibility timeout
    std::optional<std::string> worker;
};

// How a worker ends (or stretches) a lease.
struct LeaseEnd {
    enum class Kind { ack, fail, release, extend };
    Kind kind = Kind::ack;
    core::job_id id = 0;  // in /leases/settle; from the path otherwise
    std::string token;
    std::optional<std::string> result;  // ack: JSON text
    std::string error;                  // fail
    bool retryable = true;              // fail
    std::optional<core::millis> retry_in_ms;  // fail
    core::millis delay_ms = 0;                // release
    core::millis lease_ms = 0;                // extend
};

core::Result<LeaseAsk> parse_lease_ask(std::string_view body, const core::ExternalTypes& external);

// The body of POST /jobs/{id}/<kind>.
core::Result<LeaseEnd> parse_lease_end(std::string_view body, LeaseEnd::Kind kind);

// POST /leases/settle: acks then failures, each with its id; 1 to 1000 in all, no id twice.
core::Result<std::vector<LeaseEnd>> parse_lease_settle(std::string_view body);

// The job as GET /jobs/{id} shows it, with "lease": {"token", "attempt", "expires_at"}.
void append_leased_job_json(std::string& out, const core::LeasedJob& leased);

}  // namespace jobq::app
