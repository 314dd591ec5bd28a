#pragma once
// External leases: jobs of external types handed to workers outside jobq, each lease
// fenced by a token (core/lease_token.hpp) as well as by its attempt. Every member may
// throw StorageError.

#include "core/error.hpp"
#include "core/job.hpp"
#include "core/job_store.hpp"

#include <boost/asio/awaitable.hpp>

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace jobq::core {

// Up to `max` runnable external jobs, in claim order, leased until `lease_until`. Empty
// `types` or `queues`: any.
struct LeaseRequest {
    std::size_t max = 1;
    millis now = 0;
    millis lease_until = 0;
    std::vector<std::string> types;
    std::vector<std::string> queues;
    std::optional<std::string> worker;
};

struct LeasedJob {
    Job job;  // processing, its attempt counted
    std::string token;
};

// How a lease ends, decided from the job as stored, inside the transaction that applies
// it (a failure's backoff and dead letter depend on its attempts): the settlement to
// apply, whose id and attempt the store fills in.
using LeaseDecision = std::function<Settlement(const Job&)>;

struct LeaseSettlement {
    job_id id = 0;
    std::string token;
    LeaseDecision decide;
};

class LeaseStore {
public:
    virtual ~LeaseStore() = default;

    virtual boost::asio::awaitable<std::vector<LeasedJob>> lease(LeaseRequest request) = 0;

    // The job after the settlement; not_found for no such job, lease_lost when `token` is
    // not its current lease (expired and leased again, settled, or wrong).
    virtual boost::asio::awaitable<Result<Job>> settle_lease(LeaseSettlement settlement) = 0;

    // Many in one transaction: for each, ok or the error settle_lease would answer.
    virtual boost::asio::awaitable<std::vector<Result<void>>> settle_leases(std::vector<LeaseSettlement> settlements) = 0;

    // The lease runs until `lease_until` now; errors as settle_lease.
    virtual boost::asio::awaitable<Result<millis>> extend_lease(job_id id, std::string token, millis lease_until) = 0;
};

}  // namespace jobq::core
