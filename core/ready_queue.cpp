#include "core/ready_queue.hpp"

#include "common/asio_tokens.hpp"


namespace jobq::core {

namespace asio = boost::asio;

ReadyQueue::ReadyQueue(asio::any_io_executor strand) : arrivals_(std::move(strand)) {
    arrivals_.expires_at(asio::steady_timer::time_point::max());
}

void ReadyQueue::push(Job job) {
    jobs_.push_back(std::move(job));
    arrivals_.cancel_one();
}

void ReadyQueue::close() {
    closed_ = true;
    arrivals_.cancel();
}

asio::awaitable<std::optional<Job>> ReadyQueue::pop() {
    // Another worker may take the job this one was woken for; hence the loop.
    while (jobs_.empty() && !closed_) co_await arrivals_.async_wait(use_nothrow);
    if (jobs_.empty()) co_return std::nullopt;
    Job job = std::move(jobs_.front());
    jobs_.pop_front();
    co_return job;
}

}  // namespace jobq::core
