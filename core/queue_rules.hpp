#pragma once
// The queues' rules as claims obey them: a paused queue gives nothing, a concurrency limit
// caps its jobs processing, a rate limit is a token bucket on starts, and when queues
// compete for fewer free workers than they have jobs, each gets a share in proportion to
// its weight (stride scheduling: every queue has a pass, advanced by 1/weight for each
// job it starts; the lowest pass takes the next turn, of up to 64 jobs; with many queues
// competing, a turn may go on for a few rounds). Within a queue the order stays the
// store's (priority, run_at, id).
//
// A claim is a Round: shares() says how many jobs to read from each queue, took() says
// how many were, and the shares of what is left go to the queues that still have jobs.
// Built-in claims and external leases go through the same rules, so a queue's limits
// hold for both. Thread-safe; the rounds themselves run one at a time (on the store's
// writing thread), since each counts on the processing jobs it was given.

#include "core/job.hpp"
#include "core/job_changes.hpp"
#include "core/job_counts.hpp"
#include "core/queue_settings.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace jobq::core {

// What a claim knows of one queue: its jobs queued (due or not, of any kind: what it can
// give at most) and processing.
struct QueueLoad {
    std::string queue;
    std::int64_t queued = 0;
    std::int64_t processing = 0;
};

// Every queue with queued jobs, from the kept counts and the changes of the transaction
// under way (not yet in them); only those named in `only` unless it is empty.
std::vector<QueueLoad> queue_loads(const JobCounts& counts, const JobChanges& pending,
                                   const std::vector<std::string>& only);

struct QueueShare {
    std::string queue;
    std::size_t jobs = 0;
    std::size_t entry = 0;  // the round's, for took()
};

class QueueRules {
public:
    explicit QueueRules(QueueSettingsMap settings = {});
    QueueRules(const QueueRules&) = delete;
    QueueRules& operator=(const QueueRules&) = delete;

    // Default settings forget the queue.
    void set(const std::string& queue, const QueueSettings& settings);
    QueueSettings of(std::string_view queue) const;
    QueueSettingsMap all() const;
    bool limits_concurrency(std::string_view queue) const;

    // A rate-limited queue's token bucket. On several nodes sharing one database the bucket
    // is the database's, one for them all: a store reads it (under a lock on the queue)
    // into memory before a claim, with set_bucket, and writes what is left back after, from
    // bucket_of. `at` is when `tokens` were counted.
    struct TokenBucket {
        double tokens = 0;
        millis at = 0;
    };
    void set_bucket(const std::string& queue, TokenBucket bucket);
    std::optional<TokenBucket> bucket_of(std::string_view queue) const;

    // Who claims: the built-in workers or external workers (leases). Each has its own
    // waits for tokens, so one's round never ends a wait the other's timer counts on.
    enum class Claimer { built_in, external };

    // When the first queue held back by its rate limit gets its next token, as the last
    // rounds of `claimer` found it: whoever waits for jobs looks again then.
    std::optional<millis> next_token_at(Claimer claimer) const;

    class Round {
    public:
        // How many jobs to read from each queue, out of what is left to give, among the
        // queues that may still give: empty when the round is over.
        std::vector<QueueShare> shares();
        // `got` of `asked` jobs of the queue were taken (its tokens spent, its pass
        // advanced); fewer than asked: it has no more this round.
        void took(const QueueShare& share, std::size_t got);
        // The round is over: the virtual time moves up to the lowest pass among the queues
        // that gave jobs or had more (not those that turned out to have none due).
        void end();

    private:
        friend class QueueRules;
        struct Entry {
            std::string queue;
            std::int32_t weight = 1;
            std::size_t cap = 0;  // jobs it may still give
            std::int64_t processing = 0;
            double pass = 0;  // as at the round's start, advanced by what it took
            bool joined = false;  // had no queued jobs at the claimer's last round
            bool exhausted = false;
            bool gave = false;
        };
        Round(QueueRules& rules, std::size_t free, millis now, Claimer claimer, bool narrowed)
            : rules_(rules), size_(free), left_(free), now_(now), claimer_(claimer), narrowed_(narrowed) {}
        std::size_t index() const { return static_cast<std::size_t>(claimer_); }
        // The queue whose turn goes on, if it may: its entry.
        std::optional<std::size_t> continuing() const;
        QueueRules& rules_;
        std::size_t size_;  // the round's free workers
        std::size_t left_;
        millis now_;
        Claimer claimer_;
        bool narrowed_;  // a claim of some queues only: it moves none of the claimer's marks
        std::vector<Entry> entries_;
        std::string current_;  // the claimer's current queue when the round began
    };

    // A claim of up to `free` jobs at `now`, among `loads`; `narrowed`: the claim asked
    // for some queues only (the others' standing is not known from it).
    Round begin(std::size_t free, const std::vector<QueueLoad>& loads, millis now, Claimer claimer,
                bool narrowed = false);

private:
    struct Bucket {
        double tokens = 0;
        millis at = 0;
    };
    // Tokens of a rate-limited queue at `now` (refilled). Lock held.
    Bucket& bucket(const std::string& queue, const RateLimit& limit, millis now);
    // How many jobs of the queue this round may start at most (its limits); a queue short
    // of a token is held until its next one. Lock held.
    std::size_t cap_of(const QueueLoad& load, const QueueSettings& settings, millis now, Claimer claimer);
    // Holds the queue until its bucket has a token again. Lock held.
    void hold(const std::string& queue, const Bucket& bucket, const RateLimit& limit, millis now, Claimer claimer);

    // Everything below is guarded by mutex_. The arrays are per claimer: built-in claims
    // and leases hand out jobs to different workers, and a round of one says nothing of
    // where the other's queues stand.
    mutable std::mutex mutex_;
    QueueSettingsMap settings_;
    std::map<std::string, Bucket, std::less<>> buckets_;  // shared: a queue's rate is one
    std::array<std::map<std::string, millis, std::less<>>, 2> held_;   // queue -> its next token
    std::array<std::map<std::string, double, std::less<>>, 2> passes_;  // those ahead of the virtual time
    std::array<double, 2> virtual_time_{};
    std::array<std::string, 2> current_;            // the queue of the last round's last turn
    std::array<std::vector<std::string>, 2> seen_;  // queues with jobs at the last round, by name
};

// One claim through the rules (`narrowed`: of some queues only): `read(queue, n)` reads
// up to n of the queue's runnable jobs in its claim order (and takes them); it is asked
// again, for the shares of what is left, until `max` are taken or no queue has more to
// give.
template <class Read>
auto take_by_rules(QueueRules& rules, QueueRules::Claimer claimer, bool narrowed, std::size_t max,
                   const std::vector<QueueLoad>& loads, millis now, Read&& read) {
    auto round = rules.begin(max, loads, now, claimer, narrowed);
    decltype(read(std::string(), std::size_t{})) taken;
    for (auto shares = round.shares(); !shares.empty(); shares = round.shares()) {
        for (const auto& share : shares) {
            auto got = read(share.queue, share.jobs);
            round.took(share, got.size());
            for (auto& item : got) taken.push_back(std::move(item));
        }
    }
    round.end();
    return taken;
}

}  // namespace jobq::core
