#pragma once
// One node's link to the others sharing the database, on a connection of its own:
//   - its name: a session advisory lock on it, so no two live nodes share one (a node
//     that died loses it with its connection), and a row in `nodes` with a heartbeat,
//     written every `heartbeat` by the database's clock;
//   - leadership: one node at a time holds the leader's advisory lock, for as long as its
//     connection lives; it gives up the built-in leases of nodes whose heartbeat is older
//     than two intervals (looked for every second: within three of their death), and,
//     through core::Leadership,
//     runs the reaper, retention and schedules;
//   - wake-ups: LISTEN on the schema's channel, where every commit that makes jobs
//     runnable, changes a queue's settings or a schedule says so (pg_notify): a job
//     enqueued on another node starts here within milliseconds, and no node polls;
//   - the counts: read again after any notice, and at least every second, so the other
//     nodes' changes show here too.
// When the connection breaks, the node stops leading at once and connects again with a
// growing pause (at most 5 s).

#include "core/leadership.hpp"
#include "storage/postgres/connection.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>

namespace jobq::storage::pg {

class PgJobStore;

// What the node hears of the others; each may be called from any thread.
struct ClusterEvents {
    std::function<void()> jobs = [] {};       // jobs may have become runnable
    std::function<void()> schedules = [] {};  // a schedule was put or deleted
};

struct NodeLinkOptions {
    std::chrono::milliseconds heartbeat{5'000};
};

class NodeLink final : public core::Leadership {
public:
    // `store` outlives this.
    NodeLink(PgJobStore& store, NodeLinkOptions options);
    ~NodeLink() override;

    // Connects, takes the node's name, writes its first heartbeat and tries to lead.
    // Throws core::StorageError when the database cannot be reached, or another live node
    // has this node's name. Before recovery: it requeues the leases of this node's name.
    boost::asio::awaitable<void> start();
    // From now on: listens, beats, leads when it can, and tells `events` what it hears.
    void listen(ClusterEvents events);
    // Leaves: the loop ends (within a second), the connection closes (the leadership and
    // the name go with it) and the node's row is deleted. Completes once it has.
    boost::asio::awaitable<void> stop();

    bool leading() const override { return leading_.load(); }

private:
    boost::asio::awaitable<void> start_on_strand();
    boost::asio::awaitable<void> stop_on_strand();
    boost::asio::awaitable<void> run();
    // One pass: wait for a notice (at most a second), then what is due.
    boost::asio::awaitable<void> step();
    boost::asio::awaitable<void> connect();
    boost::asio::awaitable<bool> take_name();
    boost::asio::awaitable<void> heartbeat();
    boost::asio::awaitable<void> try_to_lead();
    boost::asio::awaitable<void> give_up_dead_nodes();
    boost::asio::awaitable<void> leave();
    boost::asio::awaitable<void> hear(std::vector<Notification> notices);
    std::chrono::milliseconds statement_timeout() const;

    PgJobStore& store_;
    NodeLinkOptions options_;
    boost::asio::strand<boost::asio::any_io_executor> strand_;  // every member runs here
    ClusterEvents events_;
    std::unique_ptr<Connection> connection_;
    std::atomic<bool> leading_{false};
    bool stopping_ = false;
    bool running_ = false;
    std::chrono::steady_clock::time_point next_heartbeat_{};
    std::chrono::steady_clock::time_point counts_read_at_{};
    bool missed_notices_ = true;  // connected (again): the settings and counts read anew
    std::chrono::milliseconds backoff_{0};
    boost::asio::steady_timer stopped_;  // cancelled when the loop has ended
    boost::asio::steady_timer pause_;    // between attempts to connect
};

}  // namespace jobq::storage::pg
