#include "core/queue_rules.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <queue>

namespace jobq::core {

namespace {

// A turn's jobs: at least min_turn (or what the round has left), and a round of more
// than min_turn × turns_per_round is shared among at least turns_per_round turns.
constexpr std::size_t min_turn = 64;
constexpr std::size_t turns_per_round = 8;
// With more than many_queues queues competing, a queue's turn may go on until it is
// continuing_rounds rounds ahead of the others (while no queue joins).
constexpr std::size_t many_queues = 8;
constexpr std::size_t continuing_rounds = 8;

constexpr auto queued_index = static_cast<std::size_t>(JobState::queued);
constexpr auto processing_index = static_cast<std::size_t>(JobState::processing);

// Tokens are spent a whole one per start, refilled a fraction at a time: a hair over the
// floor, so that fractions adding up to one are not found short of it.
std::int64_t whole_tokens(double tokens) { return static_cast<std::int64_t>(std::floor(tokens + 1e-9)); }

bool wanted(const std::vector<std::string>& only, std::string_view queue) {
    return only.empty() || std::find(only.begin(), only.end(), queue) != only.end();
}

}  // namespace

std::vector<QueueLoad> queue_loads(const JobCounts& counts, const JobChanges& pending,
                                   const std::vector<std::string>& only) {
    std::vector<QueueLoad> loads;
    // A queue with no job queued by the counts may have some by this transaction (stored
    // earlier in it): its processing jobs must come along, or its concurrency limit would
    // be measured against none.
    std::vector<std::string_view> changed;
    for (const auto& moves : pending.moves()) changed.push_back(moves.queue);
    const auto has_changed = [&](std::string_view queue) {
        return std::find(changed.begin(), changed.end(), queue) != changed.end();
    };
    counts.for_each_queue([&](std::string_view queue, const StateCounts& states) {
        if ((states[queued_index] > 0 || has_changed(queue)) && wanted(only, queue))
            loads.push_back({std::string(queue), states[queued_index], states[processing_index]});
    });
    // The transaction's own changes (not in the counts yet): few entries, a linear search
    // each; a queue whose first jobs came in this transaction is added.
    bool added = false;
    for (const auto& moves : pending.moves()) {
        if (!wanted(only, moves.queue)) continue;
        auto load =
            std::find_if(loads.begin(), loads.end(), [&](const QueueLoad& l) { return l.queue == moves.queue; });
        if (load == loads.end()) {
            load = loads.insert(loads.end(), QueueLoad{moves.queue});
            added = true;
        }
        load->queued += moves.delta[queued_index];
        load->processing += moves.delta[processing_index];
    }
    std::erase_if(loads, [](const QueueLoad& l) { return l.queued <= 0; });
    // In name order, as the rules keep their settings and passes: a round reads them side
    // by side, with no lookup per queue. The counts come in that order; only queues new in
    // this transaction come last.
    if (added)
        std::sort(loads.begin(), loads.end(), [](const QueueLoad& a, const QueueLoad& b) { return a.queue < b.queue; });
    return loads;
}

QueueRules::QueueRules(QueueSettingsMap settings) : settings_(std::move(settings)) {
    std::erase_if(settings_, [](const auto& entry) { return entry.second.is_default(); });
}

void QueueRules::set(const std::string& queue, const QueueSettings& settings) {
    const std::lock_guard lock(mutex_);
    if (settings.is_default()) settings_.erase(queue);
    else settings_.insert_or_assign(queue, settings);
    // A wait for a token of the old rate says nothing of the new one.
    for (auto& held : held_) held.erase(queue);
    if (!settings.rate_limit) buckets_.erase(queue);
    else if (auto b = buckets_.find(queue); b != buckets_.end())
        b->second.tokens = std::min(b->second.tokens, static_cast<double>(settings.rate_limit->burst));
}

QueueSettings QueueRules::of(std::string_view queue) const {
    const std::lock_guard lock(mutex_);
    const auto found = settings_.find(queue);
    return found == settings_.end() ? QueueSettings{} : found->second;
}

QueueSettingsMap QueueRules::all() const {
    const std::lock_guard lock(mutex_);
    return settings_;
}

bool QueueRules::limits_concurrency(std::string_view queue) const {
    const std::lock_guard lock(mutex_);
    const auto found = settings_.find(queue);
    return found != settings_.end() && found->second.concurrency.has_value();
}

void QueueRules::set_bucket(const std::string& queue, TokenBucket bucket) {
    const std::lock_guard lock(mutex_);
    buckets_.insert_or_assign(queue, Bucket{bucket.tokens, bucket.at});
}

std::optional<QueueRules::TokenBucket> QueueRules::bucket_of(std::string_view queue) const {
    const std::lock_guard lock(mutex_);
    const auto found = buckets_.find(queue);
    if (found == buckets_.end()) return std::nullopt;
    return TokenBucket{found->second.tokens, found->second.at};
}

std::optional<millis> QueueRules::next_token_at(Claimer claimer) const {
    const std::lock_guard lock(mutex_);
    std::optional<millis> earliest;
    for (const auto& [queue, at] : held_[static_cast<std::size_t>(claimer)])
        if (!earliest || at < *earliest) earliest = at;
    return earliest;
}

QueueRules::Bucket& QueueRules::bucket(const std::string& queue, const RateLimit& limit, millis now) {
    const double burst = static_cast<double>(limit.burst);
    auto [it, fresh] = buckets_.try_emplace(queue, Bucket{burst, now});
    Bucket& b = it->second;
    if (!fresh && now > b.at)
        b.tokens = std::min(burst, b.tokens + static_cast<double>(now - b.at) * limit.per_second / 1000.0);
    // A clock that stepped back refills nothing, and the bucket counts from the new time.
    b.at = now;
    return b;
}

void QueueRules::hold(const std::string& queue, const Bucket& b, const RateLimit& limit, millis now, Claimer claimer) {
    // The next token's time, at least a millisecond on.
    const double wait_ms = std::ceil((1.0 - b.tokens) * 1000.0 / limit.per_second);
    const millis at = now + std::max<millis>(1, static_cast<millis>(wait_ms));
    held_[static_cast<std::size_t>(claimer)].insert_or_assign(queue, at);
}

std::size_t QueueRules::cap_of(const QueueLoad& load, const QueueSettings& settings, millis now, Claimer claimer) {
    if (settings.paused) return 0;
    std::int64_t cap = load.queued;
    if (settings.concurrency) cap = std::min(cap, std::max<std::int64_t>(0, *settings.concurrency - load.processing));
    if (settings.rate_limit && cap > 0) {
        const Bucket& b = bucket(load.queue, *settings.rate_limit, now);
        const auto tokens = whole_tokens(b.tokens);
        if (tokens == 0) hold(load.queue, b, *settings.rate_limit, now, claimer);
        cap = std::min(cap, tokens);
    }
    return static_cast<std::size_t>(std::max<std::int64_t>(0, cap));
}

QueueRules::Round QueueRules::begin(std::size_t free, const std::vector<QueueLoad>& loads, millis now, Claimer claimer,
                                    bool narrowed) {
    Round round(*this, free, now, claimer, narrowed);
    const std::size_t c = round.index();
    const std::lock_guard lock(mutex_);
    round.current_ = current_[c];
    // Every wait for a token that has come is over; the queues still short of one are held
    // again below, from now.
    std::erase_if(held_[static_cast<std::size_t>(claimer)], [now](const auto& entry) { return entry.second <= now; });
    // Loads, settings and passes are all in name order: each is read once, side by side (a
    // round's cost grows with the number of queues, and a lookup per queue was most of it).
    const QueueSettings defaults;
    auto setting = settings_.begin();
    const auto& passes = passes_[c];
    const double virtual_time = virtual_time_[c];
    auto pass = passes.begin();
    auto& seen = seen_[c];
    auto was_seen = seen.begin();
    std::vector<std::string> seen_now;
    seen_now.reserve(loads.size());
    round.entries_.reserve(loads.size());
    for (const auto& load : loads) {
        while (setting != settings_.end() && setting->first < load.queue) ++setting;
        while (pass != passes.end() && pass->first < load.queue) ++pass;
        while (was_seen != seen.end() && *was_seen < load.queue) ++was_seen;
        seen_now.push_back(load.queue);
        const bool has_settings = setting != settings_.end() && setting->first == load.queue;
        const QueueSettings& settings = has_settings ? setting->second : defaults;
        const std::size_t cap = cap_of(load, settings, now, claimer);
        if (cap == 0) continue;
        const bool has_pass = pass != passes.end() && pass->first == load.queue;
        const double at = has_pass ? std::max(pass->second, virtual_time) : virtual_time;
        const bool joined = was_seen == seen.end() || *was_seen != load.queue;
        round.entries_.push_back({load.queue, settings.weight, cap, load.processing, at, joined});
    }
    if (!narrowed) seen.swap(seen_now);
    return round;
}

std::optional<std::size_t> QueueRules::Round::continuing() const {
    std::optional<std::size_t> current;
    std::optional<double> lowest_other;
    std::size_t competing = 0;
    for (std::size_t i = 0; i < entries_.size(); ++i) {
        const auto& e = entries_[i];
        if (e.exhausted || e.cap == 0) continue;
        if (e.joined) return std::nullopt;  // a queue that has just come gets its turn first
        ++competing;
        if (e.queue == current_) current = i;
        else lowest_other = std::min(lowest_other.value_or(e.pass), e.pass);
    }
    // Few queues' pages all stay in the caches: their turns change every round.
    if (!current || competing <= many_queues) return std::nullopt;
    // Less than continuing_rounds rounds (in passes: jobs / weight) ahead of the lowest.
    const double ahead = static_cast<double>(continuing_rounds * size_);
    if (lowest_other && entries_[*current].pass >= *lowest_other + ahead) return std::nullopt;
    return current;
}

std::vector<QueueShare> QueueRules::Round::shares() {
    // The queues' passes as the turns given so far would advance them; each turn goes to
    // the lowest; among equals, to the queue with fewer jobs processing (one that had none
    // goes before one that has been running), then to the earlier queue.
    struct Turn {
        double pass;
        std::int64_t processing;
        std::size_t entry;
        bool operator>(const Turn& other) const {
            if (pass != other.pass) return pass > other.pass;
            if (processing != other.processing) return processing > other.processing;
            return entry > other.entry;
        }
    };
    if (left_ == 0) return {};
    // With many queues competing, the queue whose turn the last round ended in goes on
    // while it is less than a few rounds ahead of the others and no queue has just come:
    // consecutive rounds then take from one queue, whose pages (its range of the claim
    // order, its rows) stay in the caches, where a hundred queues taken in turn each found
    // theirs gone (bench/run: a drain over a hundred queues ran at 0.85 of one queue's rate,
    // about 0.9 so).
    // A queue that comes is not kept waiting by it: its first jobs start in the next round.
    if (const auto current = continuing()) {
        const auto& e = entries_[*current];
        return {{e.queue, std::min(left_, e.cap), *current}};
    }
    std::priority_queue<Turn, std::vector<Turn>, std::greater<>> turns;
    for (std::size_t i = 0; i < entries_.size(); ++i)
        if (!entries_[i].exhausted && entries_[i].cap > 0) turns.push({entries_[i].pass, entries_[i].processing, i});
    // A turn gives up to min_turn jobs, or an eighth of a larger round, not one job: each
    // queue a round takes from costs the store a seek, and rows of one queue stored
    // together are leased together (a page written for many jobs, not one per job). The
    // passes advance by what each turn gave, so the shares stay in proportion over
    // consecutive rounds; a queue that joins has a turn in its first round or the next.
    const std::size_t turn_size = std::max(min_turn, (left_ + turns_per_round - 1) / turns_per_round);
    std::vector<std::size_t> given(entries_.size(), 0);
    std::optional<std::size_t> last_turn;
    for (std::size_t n = 0; n < left_ && !turns.empty();) {
        Turn turn = turns.top();
        turns.pop();
        last_turn = turn.entry;
        const auto& e = entries_[turn.entry];
        const std::size_t jobs = std::min({turn_size, e.cap - given[turn.entry], left_ - n});
        given[turn.entry] += jobs;
        n += jobs;
        if (given[turn.entry] < e.cap)
            turns.push({turn.pass + static_cast<double>(jobs) / e.weight, turn.processing, turn.entry});
    }
    // The queue of the round's last turn is the one whose turn may go on.
    if (last_turn && !narrowed_) {
        const std::lock_guard lock(rules_.mutex_);
        rules_.current_[index()] = entries_[*last_turn].queue;
    }
    std::vector<QueueShare> out;
    for (std::size_t i = 0; i < entries_.size(); ++i)
        if (given[i] > 0) out.push_back({entries_[i].queue, given[i], i});
    return out;
}

void QueueRules::Round::took(const QueueShare& share, std::size_t got) {
    if (share.entry >= entries_.size()) return;
    Entry& e = entries_[share.entry];
    got = std::min({got, e.cap, left_});
    e.cap -= got;
    left_ -= got;
    if (got < share.jobs) e.exhausted = true;
    if (got == 0) return;
    e.gave = true;
    e.pass += static_cast<double>(got) / e.weight;
    const std::lock_guard lock(rules_.mutex_);
    rules_.passes_[index()].insert_or_assign(e.queue, e.pass);
    const auto settings = rules_.settings_.find(e.queue);
    if (settings == rules_.settings_.end() || !settings->second.rate_limit) return;
    const auto& limit = *settings->second.rate_limit;
    Bucket& b = rules_.bucket(e.queue, limit, now_);
    b.tokens -= static_cast<double>(got);
    // Its last token spent and jobs left: it waits for the next one, as if found short.
    if (whole_tokens(b.tokens) == 0 && !e.exhausted) rules_.hold(e.queue, b, limit, now_, claimer_);
}

void QueueRules::Round::end() {
    // A narrowed claim saw some queues only: the lowest of those is no mark for the rest.
    if (narrowed_) return;
    const std::lock_guard lock(rules_.mutex_);
    std::optional<double> lowest;
    for (const auto& e : entries_)
        if (e.gave || !e.exhausted) lowest = std::min(lowest.value_or(e.pass), e.pass);
    if (!lowest) return;
    double& virtual_time = rules_.virtual_time_[index()];
    virtual_time = std::max(virtual_time, *lowest);
    // Passes at or behind the virtual time say nothing more than it does.
    std::erase_if(rules_.passes_[index()], [&](const auto& entry) { return entry.second <= virtual_time; });
}

}  // namespace jobq::core
