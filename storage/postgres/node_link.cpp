#include "storage/postgres/node_link.hpp"

#include "common/asio_tokens.hpp"
#include "core/clock.hpp"
#include "core/log.hpp"
#include "storage/postgres/group_commit.hpp"
#include "storage/postgres/pg_job_store.hpp"
#include "storage/postgres/schema.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <exception>

namespace jobq::storage::pg {

namespace asio = boost::asio;
namespace log = core::log;
using namespace std::chrono_literals;

namespace {

// The longest wait for a notice: how soon a stop is noticed, and how stale the other
// nodes' counts may get.
constexpr auto longest_wait = 1s;
constexpr auto first_backoff = 100ms;
constexpr auto longest_backoff = 5s;

#define JOBQ_DB_NOW_MS "(extract(epoch FROM clock_timestamp()) * 1000)::bigint"
constexpr const char* sql_take_name =
    "SELECT pg_try_advisory_lock(hashtextextended(current_schema() || ':jobq:node:' || $1, 0))";
constexpr const char* sql_heartbeat =
    "INSERT INTO nodes (name, started_at, heartbeat_at) VALUES ($1, " JOBQ_DB_NOW_MS ", " JOBQ_DB_NOW_MS
    ")"
    " ON CONFLICT (name) DO UPDATE SET heartbeat_at = excluded.heartbeat_at";
constexpr const char* sql_dead_nodes =
    "SELECT name FROM nodes WHERE name <> $1 AND heartbeat_at < " JOBQ_DB_NOW_MS " - $2::bigint ORDER BY name";
constexpr const char* sql_leave = "DELETE FROM nodes WHERE name = $1";
#undef JOBQ_DB_NOW_MS

core::StorageError name_taken(const std::string& node) {
    std::string message = "another node named \"";
    message += node;
    message += "\" is running on this database: give each node a --node-name of its own";
    return core::StorageError(message);
}

std::string describe(std::exception_ptr error) {
    try {
        std::rethrow_exception(error);
    } catch (const std::exception& e) {
        return e.what();
    } catch (...) {
        return "an unknown exception";
    }
}

}  // namespace

NodeLink::NodeLink(PgJobStore& store, NodeLinkOptions options)
    : store_(store),
      options_(options),
      strand_(asio::make_strand(store.pool().executor())),
      stopped_(strand_, std::chrono::steady_clock::time_point::max()),
      pause_(strand_) {}

NodeLink::~NodeLink() = default;

std::chrono::milliseconds NodeLink::statement_timeout() const {
    // A link that cannot write its heartbeat within an interval is as good as broken.
    return std::max<std::chrono::milliseconds>(options_.heartbeat, 2s);
}

asio::awaitable<void> NodeLink::start() {
    return asio::co_spawn(strand_, start_on_strand(), asio::use_awaitable);
}

asio::awaitable<void> NodeLink::start_on_strand() {
    co_await connect();
    // The leader may hold the name a moment, giving up the jobs of this name's last life.
    bool named = co_await take_name();
    for (int tries = 0; !named && tries < 30; ++tries) {
        pause_.expires_after(100ms);
        co_await pause_.async_wait(use_nothrow);
        named = co_await take_name();
    }
    if (!named) throw name_taken(store_.node());
    co_await heartbeat();
    next_heartbeat_ = std::chrono::steady_clock::now() + options_.heartbeat;
    co_await try_to_lead();
}

void NodeLink::listen(ClusterEvents events) {
    asio::post(strand_, [this, events = std::move(events)]() mutable {
        if (stopping_ || running_) return;
        events_ = std::move(events);
        running_ = true;
        asio::co_spawn(strand_, run(), asio::detached);
    });
}

asio::awaitable<void> NodeLink::stop() {
    return asio::co_spawn(strand_, stop_on_strand(), asio::use_awaitable);
}

asio::awaitable<void> NodeLink::stop_on_strand() {
    stopping_ = true;
    pause_.cancel();
    while (running_) co_await stopped_.async_wait(use_nothrow);
    co_await leave();  // started but never listening: the loop did not
}

asio::awaitable<void> NodeLink::connect() {
    auto options = store_.pool().connect_options();
    auto connection = co_await Connection::open(strand_, store_.pool().connector(), std::move(options));
    auto ask = batch(Statement(std::string("SELECT ") + channel_sql));
    auto channel = co_await connection->run(std::move(ask), statement_timeout());
    // The channel's name is hex digits after a fixed prefix: nothing to quote.
    auto listen = batch(Statement("LISTEN " + std::string(channel[0].text(0, 0))));
    co_await connection->run(std::move(listen), statement_timeout());
    connection_ = std::move(connection);
}

asio::awaitable<bool> NodeLink::take_name() {
    auto statements = batch(Statement(sql_take_name, params(store_.node())));
    auto taken = co_await connection_->run(std::move(statements), statement_timeout());
    co_return taken[0].boolean(0, 0);
}

asio::awaitable<void> NodeLink::heartbeat() {
    auto statements = batch(Statement(sql_heartbeat, params(store_.node())));
    co_await connection_->run(std::move(statements), statement_timeout());
}

asio::awaitable<void> NodeLink::try_to_lead() {
    auto statements = batch(Statement("SELECT pg_try_advisory_lock(" + advisory_key_sql("leader") + ")"));
    auto taken = co_await connection_->run(std::move(statements), statement_timeout());
    if (!taken[0].boolean(0, 0)) co_return;
    leading_ = true;
    log::info("this node leads: it reaps expired leases, sweeps retention and fires schedules",
              {{"node", store_.node()}});
}

// Dead: no heartbeat for two intervals, so its leases go well within three intervals of
// its last sign of life.
asio::awaitable<void> NodeLink::give_up_dead_nodes() {
    auto statements =
        batch(Statement(sql_dead_nodes, params(store_.node(), std::to_string(2 * options_.heartbeat.count()))));
    auto found = co_await connection_->run(std::move(statements), statement_timeout());
    std::vector<std::string> dead;
    for (int row = 0; row < found[0].rows(); ++row) dead.emplace_back(found[0].text(row, 0));
    if (dead.empty()) co_return;
    const auto silent_ms = 2 * options_.heartbeat.count();
    auto requeue = store_.requeue_leases_of(std::move(dead), silent_ms, core::system_now_ms());
    const auto given_up = co_await std::move(requeue);
    if (given_up.nodes.empty()) co_return;
    for (const auto& node : given_up.nodes)
        log::warn("a node stopped answering: its running jobs run again", {{"node", node}});
    log::warn("leases of dead nodes given up", {{"requeued", std::to_string(given_up.jobs.requeued)},
                                                {"dead_lettered", std::to_string(given_up.jobs.dead_lettered)}});
    events_.jobs();
}

asio::awaitable<void> NodeLink::run() {
    while (!stopping_) {
        try {
            co_await step();
            backoff_ = 0ms;
            continue;
        } catch (...) {
            if (leading_.exchange(false)) log::warn("this node no longer leads", {{"node", store_.node()}});
            connection_.reset();
            backoff_ = std::clamp<std::chrono::milliseconds>(backoff_ * 2, first_backoff, longest_backoff);
            log::warn(
                "lost the link to the other nodes; connecting again",
                {{"error", describe(std::current_exception())}, {"retry_in_ms", std::to_string(backoff_.count())}});
        }
        pause_.expires_after(backoff_);
        co_await pause_.async_wait(use_nothrow);
    }
    co_await leave();
    running_ = false;
    stopped_.cancel();
}

asio::awaitable<void> NodeLink::step() {
    if (!connection_) {
        co_await connect();
        const bool named = co_await take_name();
        if (!named) throw name_taken(store_.node());
        next_heartbeat_ = std::chrono::steady_clock::now();
        missed_notices_ = true;
    }
    const bool heard = co_await connection_->wait_for_notification(longest_wait);
    const auto now = std::chrono::steady_clock::now();
    // The store's own reads (on its pool) failing leave the link as it is: tried again at
    // the next pass.
    try {
        // The counts first: a claim woken by a notice finds the queues with jobs by them.
        if (heard || missed_notices_ || now - counts_read_at_ >= longest_wait) {
            co_await store_.refresh_counts();
            counts_read_at_ = now;
        }
        if (missed_notices_) {
            // Connected again: what was said meanwhile went unheard.
            co_await store_.reload_queue_rules();
            events_.jobs();
            events_.schedules();
            missed_notices_ = false;
        }
        if (heard) {
            auto notices = connection_->take_notifications();
            co_await hear(std::move(notices));
        }
    } catch (const core::StorageError& e) {
        log::warn("could not read the other nodes' changes; trying again", {{"error", e.what()}});
    }
    if (now >= next_heartbeat_) {
        co_await heartbeat();
        if (!leading_) co_await try_to_lead();
        next_heartbeat_ = now + options_.heartbeat;
    }
    // Every second, not every heartbeat: a dead node's jobs go at most a second after its
    // heartbeat is two intervals old.
    if (leading_) {
        try {
            co_await give_up_dead_nodes();
        } catch (const core::StorageError& e) {
            log::warn("could not give up the jobs of dead nodes; trying again", {{"error", e.what()}});
        }
    }
}

asio::awaitable<void> NodeLink::hear(std::vector<Notification> notices) {
    bool jobs = false, queues = false, schedules = false;
    for (const auto& notice : notices) {
        jobs = jobs || notice.payload == notice_jobs;
        queues = queues || notice.payload == notice_queues;
        schedules = schedules || notice.payload == notice_schedules;
    }
    if (queues) co_await store_.reload_queue_rules();
    // A queue resumed or given room may have runnable jobs too.
    if (jobs || queues) events_.jobs();
    if (schedules) events_.schedules();
}

asio::awaitable<void> NodeLink::leave() {
    if (!connection_ || connection_->broken()) co_return;
    try {
        auto statements = batch(Statement(sql_leave, params(store_.node())));
        co_await connection_->run(std::move(statements), statement_timeout());
    } catch (const std::exception& e) {
        log::warn("could not remove this node from the list of nodes", {{"error", e.what()}});
    }
    leading_ = false;
    connection_.reset();  // the locks go with the session
}

}  // namespace jobq::storage::pg
