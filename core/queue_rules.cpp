#include "core/queue_rules.hpp"

#include <algorithm>
#include <cmath>
#include <queue>

namespace jobq::core {

namespace {

constexpr auto queued_index = static_cast<std::size_t>(JobState::queued);
constexpr auto processing_index = static_cast<std::size_t>(JobState::processing);

bool wanted(const std::vector<std::string>& only, std::string_view queue) {
    return only.empty() || std::find(only.begin(), only.end(), queue) != only.end();
}

}  // namespace

std::vector<QueueLoad> queue_loads(const JobCounts& counts, const JobChanges& pending,
                                   const std::vector<std::string>& only) {
    std::vector<QueueLoad> loads;
    for (const auto& [queue, states] : counts.by_queue())
        if (wanted(only, queue)) loads.push_back({queue, states[queued_index], states[processing_index]});
    // The transaction's own changes: few entries, a linear search each.
    for (const auto& moves : pending.moves()) {
        if (!wanted(only, moves.queue)) continue;
        auto load = std::find_if(loads.begin(), loads.end(), [&](const QueueLoad& l) { return l.queue == moves.queue; });
        if (load == loads.end()) load = loads.insert(loads.end(), QueueLoad{moves.queue});
        load->queued += moves.delta[queued_index];
        load->processing += moves.delta[processing_index];
    }
    std::erase_if(loads, [](const QueueLoad& l) { return l.queued <= 0; });
    return loads;
}

QueueRules::QueueRules(QueueSettingsMap settings) : settings_(std::move(settings)) {
    std::erase_if(settings_, [](const auto& entry) { return entry.second.is_default(); });
}

void QueueRules::set(const std::string& queue, const QueueSettings& settings) {
    const std::lock_guard lock(mutex_);
    if (settings.is_default()) settings_.erase(queue);
    else settings_.insert_or_assign(queue, settings);
    if (!settings.rate_limit) {
        buckets_.erase(queue);
        held_.erase(queue);
    } else if (auto b = buckets_.find(queue); b != buckets_.end()) {
        b->second.tokens = std::min(b->second.tokens, static_cast<double>(settings.rate_limit->burst));
    }
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

std::optional<millis> QueueRules::next_token_at() const {
    const std::lock_guard lock(mutex_);
    std::optional<millis> earliest;
    for (const auto& [queue, at] : held_)
        if (!earliest || at < *earliest) earliest = at;
    return earliest;
}

QueueRules::Bucket& QueueRules::bucket(const std::string& queue, const RateLimit& limit, millis now) {
    const double burst = static_cast<double>(limit.burst);
    auto [it, fresh] = buckets_.try_emplace(queue, Bucket{burst, now});
    Bucket& b = it->second;
    if (!fresh && now > b.at) b.tokens = std::min(burst, b.tokens + static_cast<double>(now - b.at) * limit.per_second / 1000.0);
    // A clock that stepped back refills nothing, and the bucket counts from the new time.
    b.at = now;
    return b;
}

std::size_t QueueRules::cap_of(const QueueLoad& load, const QueueSettings& settings, millis now) {
    if (settings.paused) return 0;
    std::int64_t cap = load.queued;
    if (settings.concurrency) cap = std::min(cap, std::max<std::int64_t>(0, *settings.concurrency - load.processing));
    if (settings.rate_limit && cap > 0) {
        const Bucket& b = bucket(load.queue, *settings.rate_limit, now);
        // A hair over: tokens added a fraction at a time must not come out one short.
        const auto tokens = static_cast<std::int64_t>(std::floor(b.tokens + 1e-9));
        if (tokens == 0) {
            // Held back by its rate alone: the next token's time, at least a millisecond on.
            const double wait_ms = std::ceil((1.0 - b.tokens) * 1000.0 / settings.rate_limit->per_second);
            held_.insert_or_assign(load.queue, now + std::max<millis>(1, static_cast<millis>(wait_ms)));
        }
        cap = std::min(cap, tokens);
    }
    return static_cast<std::size_t>(std::max<std::int64_t>(0, cap));
}

QueueRules::Round QueueRules::begin(std::size_t free, const std::vector<QueueLoad>& loads, millis now) {
    Round round(*this, free, now);
    const std::lock_guard lock(mutex_);
    // Every wait for a token that has come is over; the queues still short of one are held
    // again below, from now.
    std::erase_if(held_, [now](const auto& entry) { return entry.second <= now; });
    for (const auto& load : loads) {
        const auto found = settings_.find(load.queue);
        const QueueSettings& settings = found == settings_.end() ? QueueSettings{} : found->second;
        const std::size_t cap = cap_of(load, settings, now);
        if (cap > 0) round.entries_.push_back({load.queue, settings.weight, cap, false});
    }
    // The virtual time moves up to the lowest pass among the queues that ran ahead of it:
    // a queue that had no jobs, or none ahead, starts level with it. An idle spell earns no
    // credit, and a queue that ran ahead keeps its debt.
    std::optional<double> lowest_pass;
    for (const auto& entry : round.entries_)
        if (const auto pass = passes_.find(entry.queue); pass != passes_.end())
            lowest_pass = std::min(lowest_pass.value_or(pass->second), pass->second);
    if (lowest_pass) virtual_time_ = std::max(virtual_time_, *lowest_pass);
    // Passes at or behind the virtual time say nothing more than it does.
    std::erase_if(passes_, [this](const auto& entry) { return entry.second <= virtual_time_; });
    return round;
}

std::vector<QueueShare> QueueRules::Round::shares() {
    // The queues' passes as the jobs given so far would advance them; each job goes to the
    // lowest, ties to the earlier queue.
    struct Turn {
        double pass;
        std::size_t entry;
        bool operator>(const Turn& other) const {
            return pass != other.pass ? pass > other.pass : entry > other.entry;
        }
    };
    std::priority_queue<Turn, std::vector<Turn>, std::greater<>> turns;
    {
        const std::lock_guard lock(rules_.mutex_);
        for (std::size_t i = 0; i < entries_.size(); ++i) {
            const auto& e = entries_[i];
            if (e.exhausted || e.cap == 0) continue;
            const auto pass = rules_.passes_.find(e.queue);
            turns.push({pass == rules_.passes_.end() ? rules_.virtual_time_ : pass->second, i});
        }
    }
    std::vector<std::size_t> given(entries_.size(), 0);
    for (std::size_t n = 0; n < left_ && !turns.empty(); ++n) {
        Turn turn = turns.top();
        turns.pop();
        const auto& e = entries_[turn.entry];
        if (++given[turn.entry] < e.cap) turns.push({turn.pass + 1.0 / e.weight, turn.entry});
    }
    std::vector<QueueShare> out;
    for (std::size_t i = 0; i < entries_.size(); ++i)
        if (given[i] > 0) out.push_back({entries_[i].queue, given[i]});
    return out;
}

void QueueRules::Round::took(const std::string& queue, std::size_t asked, std::size_t got) {
    auto e = std::find_if(entries_.begin(), entries_.end(), [&](const Entry& x) { return x.queue == queue; });
    if (e == entries_.end()) return;
    got = std::min({got, e->cap, left_});
    e->cap -= got;
    left_ -= got;
    if (got < asked) e->exhausted = true;
    if (got == 0) return;
    const std::lock_guard lock(rules_.mutex_);
    const auto [pass, added] = rules_.passes_.try_emplace(queue, rules_.virtual_time_);
    pass->second = std::max(pass->second, rules_.virtual_time_) + static_cast<double>(got) / e->weight;
    const auto settings = rules_.settings_.find(queue);
    if (settings != rules_.settings_.end() && settings->second.rate_limit)
        rules_.bucket(queue, *settings->second.rate_limit, now_).tokens -= static_cast<double>(got);
}

}  // namespace jobq::core
