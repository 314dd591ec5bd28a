#include "app/server_store.hpp"

#include "core/log.hpp"
#include "storage/postgres/node_link.hpp"
#include "storage/postgres/pg_job_store.hpp"
#include "storage/sqlite/lock_file.hpp"
#include "storage/sqlite/sqlite_job_store.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_future.hpp>

#include <optional>

#include <unistd.h>

namespace jobq::app {

namespace asio = boost::asio;

namespace {

// Every interface from one object that implements them all.
template <class Store>
class StoreOf : public ServerStore {
public:
    core::JobStore& jobs() override { return store(); }
    core::JobAdmin& admin() override { return store(); }
    core::LeaseStore& leases() override { return store(); }
    core::ScheduleStore& schedules() override { return store(); }
    core::QueueSettingsStore& queue_settings() override { return store(); }
    const core::QueueRules& queue_rules() const override { return store_->queue_rules(); }

protected:
    Store& store() { return *store_; }
    std::unique_ptr<Store> store_;
};

class SqliteStore final : public StoreOf<storage::SqliteJobStore> {
public:
    SqliteStore(const Config& config, core::Metrics* metrics) : path_(config.db) {
        // Before the database: a second server on the same file stops here.
        lock_.emplace(config.db + ".lock");
        store_ = std::make_unique<storage::SqliteJobStore>(
            storage::StoreOptions{config.db, config.sync, metrics, config.max_db_mb * (1 << 20)});
    }
    ~SqliteStore() override { store_.reset(); }  // before the lock is released

    std::string description() const override { return path_; }
    void before_exit() override {
        try {
            store_->checkpoint();
        } catch (const std::exception& e) {
            core::log::warn("checkpoint failed", {{"error", e.what()}});
        }
    }

private:
    std::string path_;
    std::optional<storage::LockFile> lock_;
};

std::string host_name() {
    char host[256] = {};
    if (::gethostname(host, sizeof host - 1) != 0 || host[0] == '\0') return "jobq";
    return host;
}

// The URI without its password (user:secret@ -> user@).
std::string without_password(const std::string& uri) {
    const auto scheme_end = uri.find("://");
    const auto at = uri.find('@');
    if (scheme_end == std::string::npos || at == std::string::npos) return uri;
    const auto colon = uri.find(':', scheme_end + 3);
    if (colon == std::string::npos || colon > at) return uri;
    return uri.substr(0, colon) + uri.substr(at);
}

class PostgresStore final : public StoreOf<storage::pg::PgJobStore> {
public:
    PostgresStore(const Config& config, asio::io_context& io, core::Metrics* metrics)
        : description_(without_password(config.db)) {
        storage::pg::PgStoreOptions options;
        options.conninfo = config.db;
        options.synchronous_commit = config.sync == storage::Synchronous::full;
        options.node = config.node_name.empty() ? host_name() : config.node_name;
        options.connections = static_cast<std::size_t>(config.db_connections);
        options.metrics = metrics;
        store_ = run_until_done(io, storage::pg::PgJobStore::open(io.get_executor(), std::move(options)));
        storage::pg::NodeLinkOptions link;
        link.heartbeat = std::chrono::milliseconds(config.heartbeat_ms);
        link_ = std::make_unique<storage::pg::NodeLink>(*store_, link);
        run_until_done(io, link_->start());
    }
    ~PostgresStore() override {
        link_.reset();  // before the store it links
    }

    std::string description() const override { return description_; }
    const core::Leadership* leadership() const override { return link_.get(); }
    void listen(std::function<void()> jobs, std::function<void()> schedules) override {
        link_->listen({std::move(jobs), std::move(schedules)});
    }
    boost::asio::awaitable<void> leave() override { return link_->stop(); }

private:
    // Runs `io` until `task` is done: before the server's threads run it.
    template <class T>
    static T run_until_done(asio::io_context& io, asio::awaitable<T> task) {
        auto done = asio::co_spawn(io, std::move(task), asio::use_future);
        io.run();
        io.restart();
        return done.get();
    }

    std::string description_;
    std::unique_ptr<storage::pg::NodeLink> link_;
};

}  // namespace

bool is_postgres_uri(std::string_view db) {
    return db.starts_with("postgresql://") || db.starts_with("postgres://");
}

std::unique_ptr<ServerStore> open_server_store(const Config& config, asio::io_context& io, core::Metrics* metrics) {
    if (is_postgres_uri(config.db)) return std::make_unique<PostgresStore>(config, io, metrics);
    return std::make_unique<SqliteStore>(config, metrics);
}

}  // namespace jobq::app
