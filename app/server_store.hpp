#pragma once
// The store the server runs on, chosen by --db: a file path keeps SQLite (the default, one
// process), a postgresql:// URI selects PostgreSQL (many nodes on one database). The rest
// of the server sees only core's interfaces.

#include "app/config.hpp"
#include "core/job_admin.hpp"
#include "core/job_store.hpp"
#include "core/leadership.hpp"
#include "core/lease_store.hpp"
#include "core/metrics.hpp"
#include "core/queue_rules.hpp"
#include "core/queue_settings.hpp"
#include "core/schedule_store.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>

#include <functional>

#include <memory>
#include <string>
#include <string_view>

namespace jobq::app {

// True when --db names a PostgreSQL database rather than a file.
bool is_postgres_uri(std::string_view db);

class ServerStore {
public:
    virtual ~ServerStore() = default;

    virtual core::JobStore& jobs() = 0;
    virtual core::JobAdmin& admin() = 0;
    virtual core::LeaseStore& leases() = 0;
    virtual core::ScheduleStore& schedules() = 0;
    virtual core::QueueSettingsStore& queue_settings() = 0;
    virtual const core::QueueRules& queue_rules() const = 0;
    // What the log says the server stores into (no password).
    virtual std::string description() const = 0;

    // After the event loop has stopped, before exit: SQLite folds its WAL into the file.
    virtual void before_exit() {}

    // On several nodes, whether this one leads (core/leadership.hpp); null: alone, it leads.
    virtual const core::Leadership* leadership() const { return nullptr; }
    // On several nodes: from now on, what another node's commit makes runnable wakes
    // `jobs`, a schedule it changed `schedules`.
    virtual void listen(std::function<void()> /*jobs*/, std::function<void()> /*schedules*/) {}
    // At shutdown, after the engine: this node leaves the others (its leadership with it).
    virtual boost::asio::awaitable<void> leave() { co_return; }
};

// Opens (and migrates) the store --db names; runs `io` until it is open, when the store is
// reached asynchronously. Throws std::exception with what went wrong.
std::unique_ptr<ServerStore> open_server_store(const Config& config, boost::asio::io_context& io,
                                               core::Metrics* metrics);

}  // namespace jobq::app
