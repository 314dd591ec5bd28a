#include "core/run_deadlines.hpp"

#include "common/asio_tokens.hpp"


namespace jobq::core {

namespace asio = boost::asio;

RunDeadlines::Run::Run(RunDeadlines& owner, time_point deadline) : owner_(owner), deadline_(deadline) {
    owner_.link(*this);
}

RunDeadlines::Run::~Run() {
    if (!cancelled_) owner_.unlink(*this);
}

RunDeadlines::RunDeadlines(asio::any_io_executor strand) : timer_(std::move(strand)) {}

asio::awaitable<void> RunDeadlines::enforce() {
    while (!stopped_) {
        const auto now = std::chrono::steady_clock::now();
        while (first_ && first_->deadline_ <= now) cancel(*first_);
        // A first run that left early does not re-arm the timer: it fires at that run's
        // deadline, finds nothing due and sleeps again until the next one.
        timer_.expires_at(first_ ? first_->deadline_ : time_point::max());
        co_await timer_.async_wait(use_nothrow);
    }
}

void RunDeadlines::stop() {
    stopped_ = true;
    timer_.cancel();
}

void RunDeadlines::cancel_all() {
    while (first_) cancel(*first_);
}

void RunDeadlines::link(Run& run) {
    // Sorted by deadline from the end: with one timeout for every run, that is where a new
    // run goes, at once.
    Run* after = last_;
    while (after && run.deadline_ < after->deadline_) after = after->previous_;
    run.previous_ = after;
    run.next_ = after ? after->next_ : first_;
    (run.next_ ? run.next_->previous_ : last_) = &run;
    (after ? after->next_ : first_) = &run;
    // A new earliest deadline: the timer sleeps until a later one (or forever).
    if (first_ == &run) timer_.cancel();
}

void RunDeadlines::unlink(Run& run) {
    (run.previous_ ? run.previous_->next_ : first_) = run.next_;
    (run.next_ ? run.next_->previous_ : last_) = run.previous_;
    run.previous_ = run.next_ = nullptr;
}

void RunDeadlines::cancel(Run& run) {
    unlink(run);
    run.cancelled_ = true;
    run.signal_.emit(asio::cancellation_type::terminal);
}

}  // namespace jobq::core
