#pragma once
// core::take_by_rules for a store whose reads are awaited: one claim through the queue
// rules (core/queue_rules.hpp), `take(queue, n)` taking up to n of the queue's runnable
// jobs in its claim order and answering them. The rounds of one claimer run one at a time
// (the store's writer runs them, a batch after another).

#include "core/queue_rules.hpp"

#include <boost/asio/awaitable.hpp>

#include <string>
#include <vector>

namespace jobq::storage::pg {

template <class Item, class Take>
boost::asio::awaitable<std::vector<Item>> take_by_rules(core::QueueRules& rules, core::QueueRules::Claimer claimer,
                                                        bool narrowed, std::size_t max,
                                                        std::vector<core::QueueLoad> loads, core::millis now,
                                                        Take take) {
    auto round = rules.begin(max, loads, now, claimer, narrowed);
    std::vector<Item> taken;
    for (auto shares = round.shares(); !shares.empty(); shares = round.shares()) {
        for (const auto& share : shares) {
            auto got = co_await take(share.queue, share.jobs);
            round.took(share, got.size());
            for (auto& item : got) taken.push_back(std::move(item));
        }
    }
    round.end();
    co_return taken;
}

}  // namespace jobq::storage::pg
