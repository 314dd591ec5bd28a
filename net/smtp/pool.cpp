#include "net/smtp/pool.hpp"

#include "common/asio_tokens.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>

#include <algorithm>
#include <mutex>
#include <vector>

namespace jobq::net::smtp {

namespace asio = boost::asio;
using clock = std::chrono::steady_clock;

namespace {

// A connection used this recently is known good: no NOOP before reusing it.
constexpr auto trust_for = std::chrono::seconds(1);

Failure retryable(std::string message) { return Failure{false, std::move(message)}; }

// A send waiting for a place: its timer runs on the sender's executor and is cancelled
// there (posted) when a place is freed, or expires at the sender's deadline.
struct Waiter {
    Waiter(asio::any_io_executor executor, clock::time_point deadline) : timer(std::move(executor), deadline) {}
    asio::steady_timer timer;
    bool woken = false;  // under the books' mutex
};

}  // namespace

struct Pool::Books {
    Books(asio::any_io_executor executor, const std::string& ca_file, std::chrono::milliseconds idle_timeout)
        : strand(asio::make_strand(executor)), tls(make_tls_context(ca_file)), resolver(executor),
          idle_timeout(idle_timeout), idle_timer(strand) {}

    struct Idle {
        std::unique_ptr<Connection> connection;
        clock::time_point since;
    };

    // Connections go (QUIT, then close) without holding up the caller. The coroutine holds
    // the books: the connection's place and its TLS context live until it is closed. Never
    // under the mutex: co_spawn may start the coroutine at once, on this thread.
    static void retire(const std::shared_ptr<Books>& books, std::unique_ptr<Connection> connection) {
        auto quit = [](std::shared_ptr<Books>, std::unique_ptr<Connection> c) -> asio::awaitable<void> {
            co_await c->quit();
        };
        asio::co_spawn(books->strand, quit(books, std::move(connection)), asio::detached);
    }

    // Closes idle connections as their idle timeout passes, while there are any.
    static asio::awaitable<void> retire_idle(std::shared_ptr<Books> books) {
        for (;;) {
            std::vector<std::unique_ptr<Connection>> expired;
            clock::time_point next = clock::time_point::max();
            {
                const std::lock_guard lock(books->mutex);
                // `idle` is in release order (acquire takes the newest): its front is the oldest.
                while (!books->idle.empty() && clock::now() - books->idle.front().since >= books->idle_timeout) {
                    expired.push_back(std::move(books->idle.front().connection));
                    books->idle.pop_front();
                }
                if (books->closed || books->idle.empty()) books->retiring_idle = false;
                else next = books->idle.front().since + books->idle_timeout;
            }
            for (auto& c : expired) retire(books, std::move(c));
            if (next == clock::time_point::max()) co_return;
            books->idle_timer.expires_at(next);
            co_await books->idle_timer.async_wait(use_nothrow);
        }
    }

    // Under the mutex: a place was freed or a connection went idle; the oldest waiter looks.
    void wake_one_locked() {
        if (waiters.empty()) return;
        auto waiter = std::move(waiters.front());
        waiters.pop_front();
        waiter->woken = true;
        auto executor = waiter->timer.get_executor();
        asio::post(executor, [waiter = std::move(waiter)] { waiter->timer.cancel(); });
    }

    asio::strand<asio::any_io_executor> strand;  // the pool's own work: closing connections
    asio::ssl::context tls;
    Resolver resolver;
    const std::chrono::milliseconds idle_timeout;

    std::mutex mutex;  // guards what follows; never held across an await or a connection's destruction
    std::size_t open = 0;  // places taken
    std::deque<Idle> idle;
    std::deque<std::shared_ptr<Waiter>> waiters;
    clock::time_point next_send{};
    bool retiring_idle = false;
    bool closed = false;

    asio::steady_timer idle_timer;  // on `strand`
};

// A place in the pool, freed when destroyed. Held by the connection that uses it (or,
// while one is being opened, by the opening coroutine's frame). Made under the mutex,
// which counted it.
class Pool::Place {
public:
    explicit Place(std::shared_ptr<Books> books) : books_(std::move(books)) {}
    Place(const Place&) = delete;
    Place& operator=(const Place&) = delete;
    ~Place() {
        const std::lock_guard lock(books_->mutex);
        --books_->open;
        books_->wake_one_locked();
    }

private:
    std::shared_ptr<Books> books_;
};

// A waiter's registration, removed however the wait ends. A wake-up it received and did
// not act on (its send was cancelled) goes to the next waiter.
class Pool::Waiting {
public:
    Waiting(Books& books, std::shared_ptr<Waiter> waiter) : books_(books), waiter_(std::move(waiter)) {}
    Waiting(const Waiting&) = delete;
    Waiting& operator=(const Waiting&) = delete;
    ~Waiting() {
        const std::lock_guard lock(books_.mutex);
        std::erase(books_.waiters, waiter_);
        if (waiter_->woken && !acted_) books_.wake_one_locked();
    }
    void acted() { acted_ = true; }

private:
    Books& books_;
    std::shared_ptr<Waiter> waiter_;
    bool acted_ = false;
};

Pool::Pool(asio::any_io_executor executor, ServerOptions server, PoolOptions options)
    : server_(std::move(server)),
      options_(options),
      books_(std::make_shared<Books>(executor, server_.ca_file, options.idle_timeout)) {
    options_.size = std::max<std::size_t>(options_.size, 1);
}

Pool::~Pool() {
    // The idle connections hold places, which hold the books: let them go now (outside the
    // mutex: a place's destructor takes it).
    std::deque<Books::Idle> idle;
    {
        const std::lock_guard lock(books_->mutex);
        books_->closed = true;
        idle.swap(books_->idle);
    }
    asio::post(books_->strand, [books = books_] { books->idle_timer.cancel(); });
}

std::size_t Pool::open_connections() const {
    const std::lock_guard lock(books_->mutex);
    return books_->open;
}

asio::awaitable<Result<void>> Pool::send(const Envelope& envelope) {
    co_await wait_for_rate();
    for (int attempt = 0;; ++attempt) {
        auto acquired = co_await acquire(attempt > 0);
        if (!acquired) co_return acquired.error();
        auto connection = std::move(*acquired);
        auto sent = co_await connection->send(envelope);
        const bool broken = !sent && !connection->usable();
        release(std::move(connection));
        // A session that broke (a dropped connection, a timeout) may have been stale, and
        // so may the idle ones: once more on a new connection before the failure counts.
        if (!broken || sent.error().permanent || attempt == 1) co_return sent;
    }
}

asio::awaitable<Connection::Opened> Pool::acquire(bool fresh) {
    auto& books = *books_;
    const auto executor = co_await asio::this_coro::executor;
    const auto deadline = clock::now() + options_.acquire_timeout;
    for (;;) {
        std::optional<Books::Idle> idle;
        std::shared_ptr<Place> place;
        std::unique_ptr<Connection> oldest;  // retired to make room for a fresh one
        std::shared_ptr<Waiter> waiter;
        {
            const std::lock_guard lock(books.mutex);
            // A fresh connection when every place is taken by an idle one: close the oldest.
            if (fresh && books.open >= options_.size && !books.idle.empty()) {
                oldest = std::move(books.idle.front().connection);
                books.idle.pop_front();
            }
            if (!fresh && !books.idle.empty()) {
                idle = std::move(books.idle.back());
                books.idle.pop_back();
            } else if (books.open < options_.size) {
                ++books.open;
                place = std::make_shared<Place>(books_);
            } else if (clock::now() < deadline) {
                waiter = std::make_shared<Waiter>(executor, deadline);
                books.waiters.push_back(waiter);
            }
        }
        if (oldest) Books::retire(books_, std::move(oldest));
        if (place) co_return co_await open_new(std::move(place));
        if (idle) {
            const auto idle_for = clock::now() - idle->since;
            // Cancelled during the probe, the connection (and its place) goes with this frame.
            if (idle_for <= options_.idle_timeout && (idle_for <= trust_for || co_await idle->connection->alive()))
                co_return std::move(idle->connection);
            Books::retire(books_, std::move(idle->connection));
            continue;
        }
        if (!waiter)
            co_return retryable("timed out waiting for a free SMTP connection (all " + std::to_string(options_.size) +
                                " in use)");
        Waiting waiting(books, waiter);
        co_await waiter->timer.async_wait(use_nothrow);
        waiting.acted();  // woken or not, this send looks again itself
    }
}

asio::awaitable<Connection::Opened> Pool::open_new(std::shared_ptr<Place> place) {
    // The place is this frame's until the connection holds it: a failed or cancelled open
    // frees it on the way out.
    auto opened = co_await Connection::open(co_await asio::this_coro::executor, server_, books_->tls, books_->resolver);
    if (opened) (*opened)->hold(std::move(place));
    co_return opened;
}

void Pool::release(std::unique_ptr<Connection> connection) {
    if (!connection->usable() || connection->messages_sent() >= options_.max_messages) {
        Books::retire(books_, std::move(connection));
        return;
    }
    bool start_retiring = false;
    {
        const std::lock_guard lock(books_->mutex);
        books_->idle.push_back({std::move(connection), clock::now()});
        books_->wake_one_locked();
        start_retiring = !books_->retiring_idle && !books_->closed;
        books_->retiring_idle = books_->retiring_idle || start_retiring;
    }
    // Outside the mutex: co_spawn may run the coroutine at once, and it takes the mutex.
    if (start_retiring) asio::co_spawn(books_->strand, Books::retire_idle(books_), asio::detached);
}

asio::awaitable<void> Pool::wait_for_rate() {
    if (options_.rate_limit <= 0) co_return;
    const auto interval = std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(1.0 / options_.rate_limit));
    const auto now = clock::now();
    clock::time_point slot;
    {
        const std::lock_guard lock(books_->mutex);
        slot = std::max(now, books_->next_send);
        books_->next_send = slot + interval;
    }
    if (slot <= now) co_return;
    asio::steady_timer timer(co_await asio::this_coro::executor, slot);
    co_await timer.async_wait(use_nothrow);
}

}  // namespace jobq::net::smtp
