#include "net/smtp/pool.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace jobq::net::smtp {

namespace asio = boost::asio;
using clock = std::chrono::steady_clock;
using namespace asio::experimental::awaitable_operators;

namespace {

constexpr auto use_nothrow = asio::as_tuple(asio::use_awaitable);
// A connection used this recently is known good: no NOOP before reusing it.
constexpr auto trust_for = std::chrono::seconds(1);

Failure retryable(std::string message) { return Failure{false, false, std::move(message)}; }

}  // namespace

struct Pool::Books {
    Books(asio::any_io_executor executor, const std::string& ca_file, std::chrono::milliseconds idle_timeout)
        : executor(executor), tls(make_tls_context(ca_file)), resolver(executor), idle_timeout(idle_timeout),
          slot_freed(executor, clock::time_point::max()), idle_timer(executor) {}

    struct Idle {
        std::unique_ptr<Connection> connection;
        clock::time_point since;
    };

    // Connections go (QUIT, then close) without holding up the caller. The coroutine holds
    // the books: the connection's place and its TLS context live until it is closed.
    static void retire(std::shared_ptr<Books> books, std::unique_ptr<Connection> connection) {
        auto quit = [](std::shared_ptr<Books>, std::unique_ptr<Connection> c) -> asio::awaitable<void> {
            co_await c->quit();
        };
        auto executor = books->executor;
        asio::co_spawn(executor, quit(std::move(books), std::move(connection)), asio::detached);
    }

    // Closes idle connections as their idle timeout passes, while there are any.
    static asio::awaitable<void> retire_idle(std::shared_ptr<Books> books) {
        // `idle` is in release order (acquire takes the newest): its front is the oldest.
        while (!books->closed && !books->idle.empty()) {
            books->idle_timer.expires_at(books->idle.front().since + books->idle_timeout);
            co_await books->idle_timer.async_wait(use_nothrow);
            while (!books->idle.empty() && clock::now() - books->idle.front().since >= books->idle_timeout) {
                retire(books, std::move(books->idle.front().connection));
                books->idle.pop_front();
            }
        }
        books->retiring_idle = false;
    }

    asio::any_io_executor executor;
    asio::ssl::context tls;
    Resolver resolver;
    std::chrono::milliseconds idle_timeout;
    std::size_t open = 0;          // places taken
    asio::steady_timer slot_freed;  // waiters for a place; one is woken per place freed
    std::deque<Idle> idle;
    asio::steady_timer idle_timer;
    bool retiring_idle = false;
    bool closed = false;
};

// A place in the pool: taken when made, freed when destroyed. Held by the connection that
// uses it (or, while one is being opened, by the opening coroutine's frame).
class Pool::Place {
public:
    explicit Place(std::shared_ptr<Books> books) : books_(std::move(books)) { ++books_->open; }
    Place(const Place&) = delete;
    Place& operator=(const Place&) = delete;
    ~Place() {
        --books_->open;
        books_->slot_freed.cancel_one();
    }

private:
    std::shared_ptr<Books> books_;
};

Pool::Pool(asio::any_io_executor executor, ServerOptions server, PoolOptions options)
    : executor_(executor),
      server_(std::move(server)),
      options_(options),
      books_(std::make_shared<Books>(executor, server_.ca_file, options.idle_timeout)) {
    options_.size = std::max<std::size_t>(options_.size, 1);
}

Pool::~Pool() {
    // The idle connections hold places, which hold the books: let them go now.
    books_->closed = true;
    books_->idle.clear();
    books_->idle_timer.cancel();
}

std::size_t Pool::open_connections() const { return books_->open; }

asio::awaitable<std::optional<Failure>> Pool::send(const Envelope& envelope) {
    co_await wait_for_rate();
    for (int attempt = 0;; ++attempt) {
        auto acquired = co_await acquire(attempt > 0);
        if (auto* failure = std::get_if<Failure>(&acquired)) co_return std::move(*failure);
        auto connection = std::move(std::get<std::unique_ptr<Connection>>(acquired));
        auto failure = co_await connection->send(envelope);
        const bool broken = failure && !connection->usable();
        release(std::move(connection));
        // A session that broke (a dropped connection, a timeout) may have been stale, and
        // so may the idle ones: once more on a new connection before the failure counts.
        if (!broken || failure->permanent || attempt == 1) co_return failure;
    }
}

asio::awaitable<Connection::Opened> Pool::acquire(bool fresh) {
    auto& books = *books_;
    const auto deadline = clock::now() + options_.acquire_timeout;
    for (;;) {
        // A fresh connection when every place is taken by an idle one: close the oldest.
        if (fresh && books.open >= options_.size && !books.idle.empty()) {
            Books::retire(books_, std::move(books.idle.front().connection));
            books.idle.pop_front();
        }
        while (!fresh && !books.idle.empty()) {
            Books::Idle idle = std::move(books.idle.back());
            books.idle.pop_back();
            const auto idle_for = clock::now() - idle.since;
            if (idle_for > options_.idle_timeout) {
                Books::retire(books_, std::move(idle.connection));
                continue;
            }
            // Cancelled during the probe, the connection (and its place) goes with this frame.
            if (idle_for > trust_for && !co_await idle.connection->alive()) {
                Books::retire(books_, std::move(idle.connection));
                continue;
            }
            co_return std::move(idle.connection);
        }
        if (books.open < options_.size) co_return co_await open_new();
        asio::steady_timer give_up(executor_, deadline);
        auto woken = co_await (books.slot_freed.async_wait(use_nothrow) || give_up.async_wait(use_nothrow));
        if (woken.index() == 1)
            co_return retryable("timed out waiting for a free SMTP connection (all " + std::to_string(options_.size) +
                                " in use)");
    }
}

asio::awaitable<Connection::Opened> Pool::open_new() {
    // The place is this frame's until the connection holds it: a failed or cancelled open
    // frees it on the way out.
    auto place = std::make_shared<Place>(books_);
    auto opened = co_await Connection::open(executor_, server_, books_->tls, books_->resolver);
    if (auto* connection = std::get_if<std::unique_ptr<Connection>>(&opened)) (*connection)->hold(std::move(place));
    co_return opened;
}

void Pool::release(std::unique_ptr<Connection> connection) {
    if (!connection->usable() || connection->messages_sent() >= options_.max_messages) {
        Books::retire(books_, std::move(connection));
        return;
    }
    books_->idle.push_back({std::move(connection), clock::now()});
    books_->slot_freed.cancel_one();
    if (!books_->retiring_idle) {
        books_->retiring_idle = true;
        asio::co_spawn(executor_, Books::retire_idle(books_), asio::detached);
    }
}

asio::awaitable<void> Pool::wait_for_rate() {
    if (options_.rate_limit <= 0) co_return;
    const auto interval = std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(1.0 / options_.rate_limit));
    const auto now = clock::now();
    const auto slot = std::max(now, next_send_);
    next_send_ = slot + interval;
    if (slot <= now) co_return;
    asio::steady_timer timer(executor_, slot);
    co_await timer.async_wait(use_nothrow);
}

}  // namespace jobq::net::smtp
