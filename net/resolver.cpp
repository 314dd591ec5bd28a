#include "net/resolver.hpp"

#include "common/asio_tokens.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <ares.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <tuple>
#include <unordered_map>
#include <utility>

namespace jobq::net {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using clock = std::chrono::steady_clock;
using error_code = boost::system::error_code;
using Endpoints = std::vector<tcp::endpoint>;
using Result = boost::system::result<Endpoints>;
using Strand = asio::strand<asio::any_io_executor>;

namespace {

// c-ares doubles the timeout on each round: with 2 tries an abandoned query ends by
// itself 1 + 2 = 3 s after it started (per configured server).
constexpr int try_timeout_ms = 1000;
constexpr int tries = 2;

void init_library() {
    // ares_library_init is not thread-safe and wants to run once per process.
    static const int status = ares_library_init(ARES_LIB_INIT_ALL);
    if (status != ARES_SUCCESS)
        throw std::runtime_error(std::string("cannot initialise c-ares: ") + ares_strerror(status));
}

ares_channel open_channel(const ResolverOptions& options, ares_sock_state_cb on_socket, void* data) {
    init_library();
    char lookups[] = "fb";  // /etc/hosts, then DNS, whatever nsswitch.conf says
    ares_options settings{};
    settings.timeout = try_timeout_ms;
    settings.tries = tries;
    settings.lookups = lookups;
    settings.sock_state_cb = on_socket;
    settings.sock_state_cb_data = data;
    const int mask = ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_LOOKUPS | ARES_OPT_SOCK_STATE_CB;
    ares_channel channel = nullptr;
    if (const int status = ares_init_options(&channel, &settings, mask); status != ARES_SUCCESS)
        throw std::runtime_error(std::string("cannot start c-ares: ") + ares_strerror(status));
    if (options.servers.empty()) return channel;
    if (const int status = ares_set_servers_ports_csv(channel, options.servers.c_str()); status != ARES_SUCCESS) {
        ares_destroy(channel);
        throw std::runtime_error("bad DNS server list \"" + options.servers + "\": " + ares_strerror(status));
    }
    return channel;
}

// Explicit: a bare asio enum would also convert to the vector (its size constructor).
Result failure(error_code ec) { return Result(boost::system::in_place_error, ec); }

error_code error_of(int status) {
    namespace error = asio::error;
    switch (status) {
    case ARES_ENOTFOUND: return error::host_not_found;
    case ARES_ENODATA: return error::no_data;
    case ARES_ETIMEOUT: return error::timed_out;
    case ARES_ESERVFAIL:
    case ARES_EREFUSED:
    case ARES_ECONNREFUSED: return error::host_not_found_try_again;
    case ARES_ECANCELLED:
    case ARES_EDESTRUCTION: return error::operation_aborted;
    case ARES_EBADNAME: return error::invalid_argument;
    case ARES_ENOMEM: return error::no_memory;
    default: return error::no_recovery;  // malformed answers, unsupported queries, unreadable files
    }
}

std::optional<tcp::endpoint> endpoint_of(const ares_addrinfo_node& node, std::uint16_t port) {
    const bool known = (node.ai_family == AF_INET && node.ai_addrlen == sizeof(sockaddr_in)) ||
                       (node.ai_family == AF_INET6 && node.ai_addrlen == sizeof(sockaddr_in6));
    if (!known || !node.ai_addr) return std::nullopt;
    tcp::endpoint endpoint;
    std::memcpy(endpoint.data(), node.ai_addr, node.ai_addrlen);  // keeps an IPv6 scope id
    endpoint.resize(node.ai_addrlen);
    endpoint.port(port);
    return endpoint;
}

// Several /etc/hosts lines or a CNAME chain can yield one address twice.
Endpoints endpoints_of(const ares_addrinfo* info, std::uint16_t port) {
    Endpoints endpoints;
    for (const ares_addrinfo_node* node = info ? info->nodes : nullptr; node; node = node->ai_next) {
        const auto endpoint = endpoint_of(*node, port);
        if (endpoint && std::find(endpoints.begin(), endpoints.end(), *endpoint) == endpoints.end())
            endpoints.push_back(*endpoint);
    }
    return endpoints;
}

// Saturating: now + milliseconds::max() would overflow the clock's nanoseconds.
clock::time_point deadline_after(std::chrono::milliseconds timeout) {
    const auto now = clock::now();
    const auto room = std::chrono::duration_cast<std::chrono::milliseconds>(clock::time_point::max() - now);
    return timeout >= room ? clock::time_point::max() : now + timeout;
}

std::optional<tcp::endpoint> numeric_endpoint(const std::string& host, std::uint16_t port) {
    error_code ec;
    const auto address = asio::ip::make_address(host, ec);
    if (ec) return std::nullopt;
    return tcp::endpoint(address, port);
}

// One lookup, shared by the coroutine awaiting it and the c-ares callback, so that either
// may finish first: a late callback finds it abandoned and only frees the answer.
struct Lookup {
    Lookup(const Strand& strand, clock::time_point deadline, std::uint16_t port_)
        : timer(strand, deadline), port(port_) {}
    asio::steady_timer timer;  // expires at the deadline; cancelled when the answer comes
    std::uint16_t port;
    std::optional<Result> outcome;
    bool abandoned = false;
};

struct AddrinfoDeleter {
    void operator()(ares_addrinfo* info) const { ares_freeaddrinfo(info); }
};

// noexcept: an exception must not unwind through c-ares's C frames.
void on_addrinfo(void* arg, int status, int /*timeouts*/, ares_addrinfo* result) noexcept {
    const std::unique_ptr<std::shared_ptr<Lookup>> owner(static_cast<std::shared_ptr<Lookup>*>(arg));
    const std::unique_ptr<ares_addrinfo, AddrinfoDeleter> info(result);
    Lookup& lookup = **owner;
    if (lookup.abandoned) return;
    if (status != ARES_SUCCESS) lookup.outcome = failure(error_of(status));
    else if (auto endpoints = endpoints_of(info.get(), lookup.port); endpoints.empty())
        lookup.outcome = failure(asio::error::no_data);
    else lookup.outcome = Result(std::move(endpoints));
    lookup.timer.cancel();  // resumes the coroutine through the strand, never inline
}

}  // namespace

// Everything c-ares: the channel, the descriptors it asked us to watch and its timer, all
// used on strand_ only. Handlers hold a shared_ptr, so a late one finds this alive and inert.
class Resolver::Impl : public std::enable_shared_from_this<Impl> {
public:
    Impl(asio::any_io_executor executor, const ResolverOptions& options)
        : strand_(asio::make_strand(std::move(executor))),
          timer_(strand_),
          channel_(open_channel(options, &Impl::on_socket_state, this)) {}
    ~Impl() { shutdown(); }
    Impl(const Impl&) = delete;
    Impl& operator=(const Impl&) = delete;

    const Strand& strand() const { return strand_; }
    // One lookup, on the strand; `self` keeps everything it touches alive.
    static asio::awaitable<Result> run(std::shared_ptr<Impl> self, std::string host, std::uint16_t port,
                                       clock::time_point deadline);
    void shutdown();

private:
    struct Watch {
        asio::posix::stream_descriptor descriptor;
        std::uint64_t generation;  // tells a handler of a released fd from one of its reuse
        bool read = false;         // what c-ares wants
        bool write = false;
        bool reading = false;      // a wait is pending
        bool writing = false;
    };
    using WaitType = asio::posix::descriptor_base::wait_type;

    void start(const std::string& host, const std::shared_ptr<Lookup>& lookup);
    static void on_socket_state(void* data, ares_socket_t fd, int readable, int writable) noexcept;
    void watch(ares_socket_t fd, bool read, bool write);
    void forget(ares_socket_t fd);
    void arm(ares_socket_t fd, Watch& watch);
    void wait(ares_socket_t fd, Watch& watch, WaitType type);
    void on_ready(ares_socket_t fd, std::uint64_t generation, WaitType type, error_code ec);
    Watch* find(ares_socket_t fd, std::uint64_t generation);
    void schedule_timeout();
    void on_timeout();

    Strand strand_;
    asio::steady_timer timer_;  // c-ares's own retry and give-up times
    std::unordered_map<ares_socket_t, Watch> watches_;
    std::uint64_t generations_ = 0;
    ares_channel channel_;  // null once shut down
};

asio::awaitable<Result> Resolver::Impl::run(std::shared_ptr<Impl> self, std::string host, std::uint16_t port,
                                            clock::time_point deadline) {
    if (!self->channel_) co_return failure(asio::error::operation_aborted);
    const auto lookup = std::make_shared<Lookup>(self->strand_, deadline, port);
    self->start(host, lookup);
    // /etc/hosts and errors answer inside ares_getaddrinfo, before there is anything to await.
    error_code ec;
    if (!lookup->outcome) std::tie(ec) = co_await lookup->timer.async_wait(use_nothrow);
    if (lookup->outcome) co_return std::move(*lookup->outcome);
    lookup->abandoned = true;
    // The callback sets the outcome before it cancels: an abort without one is the caller's.
    co_return failure(ec == asio::error::operation_aborted ? asio::error::operation_aborted : asio::error::timed_out);
}

void Resolver::Impl::start(const std::string& host, const std::shared_ptr<Lookup>& lookup) {
    ares_addrinfo_hints hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    // No service: the port is ours to set, and c-ares would reject port 0.
    ares_getaddrinfo(channel_, host.c_str(), nullptr, &hints, &on_addrinfo, new std::shared_ptr<Lookup>(lookup));
    schedule_timeout();
}

// c-ares owns its fds: the descriptors only watch them and are released, never closed.
void Resolver::Impl::shutdown() {
    if (!channel_) return;
    // Pending queries complete with ARES_EDESTRUCTION and their sockets are reported
    // unwatched, both while the watch table is still here.
    ares_destroy(std::exchange(channel_, nullptr));
    for (auto& entry : watches_) entry.second.descriptor.release();
    watches_.clear();
    timer_.cancel();
}

void Resolver::Impl::on_socket_state(void* data, ares_socket_t fd, int readable, int writable) noexcept {
    auto* self = static_cast<Impl*>(data);
    if (readable || writable) self->watch(fd, readable != 0, writable != 0);
    else self->forget(fd);
}

void Resolver::Impl::watch(ares_socket_t fd, bool read, bool write) {
    auto it = watches_.find(fd);
    if (it == watches_.end()) {
        asio::posix::stream_descriptor descriptor(strand_);
        error_code ec;
        descriptor.assign(fd, ec);
        // Unwatchable (the reactor refused it): the query still ends by c-ares's timeouts.
        if (ec) return;
        it = watches_.emplace(fd, Watch{std::move(descriptor), ++generations_}).first;
    }
    it->second.read = read;
    it->second.write = write;
    arm(fd, it->second);
}

void Resolver::Impl::forget(ares_socket_t fd) {
    const auto it = watches_.find(fd);
    if (it == watches_.end()) return;
    it->second.descriptor.release();  // aborts its waits; c-ares closes the fd right after
    watches_.erase(it);
}

void Resolver::Impl::arm(ares_socket_t fd, Watch& watch) {
    if (watch.read && !watch.reading) wait(fd, watch, WaitType::wait_read);
    if (watch.write && !watch.writing) wait(fd, watch, WaitType::wait_write);
}

void Resolver::Impl::wait(ares_socket_t fd, Watch& watch, WaitType type) {
    (type == WaitType::wait_read ? watch.reading : watch.writing) = true;
    watch.descriptor.async_wait(type, [self = shared_from_this(), fd, generation = watch.generation,
                                       type](error_code ec) { self->on_ready(fd, generation, type, ec); });
}

Resolver::Impl::Watch* Resolver::Impl::find(ares_socket_t fd, std::uint64_t generation) {
    const auto it = watches_.find(fd);
    return it != watches_.end() && it->second.generation == generation ? &it->second : nullptr;
}

void Resolver::Impl::on_ready(ares_socket_t fd, std::uint64_t generation, WaitType type, error_code ec) {
    Watch* watch = find(fd, generation);
    if (!watch) return;  // released: the fd is c-ares's again, perhaps already another socket
    const bool reading = type == WaitType::wait_read;
    (reading ? watch->reading : watch->writing) = false;
    if (ec == asio::error::operation_aborted || !channel_) return;
    // A wait c-ares no longer wants (a TCP send queue drained meanwhile) is only dropped.
    if (reading ? watch->read : watch->write)
        ares_process_fd(channel_, reading ? fd : ARES_SOCKET_BAD, reading ? ARES_SOCKET_BAD : fd);
    // Processing may have closed the socket, or reopened its number as a new one.
    if ((watch = find(fd, generation))) arm(fd, *watch);
    schedule_timeout();
}

void Resolver::Impl::schedule_timeout() {
    if (!channel_) return;
    timeval tv{};
    if (!ares_timeout(channel_, nullptr, &tv)) {
        timer_.cancel();  // no query left
        return;
    }
    timer_.expires_after(std::chrono::seconds(tv.tv_sec) + std::chrono::microseconds(tv.tv_usec));
    timer_.async_wait([self = shared_from_this()](error_code ec) {
        if (!ec) self->on_timeout();  // aborted: re-armed or shut down meanwhile
    });
}

void Resolver::Impl::on_timeout() {
    if (!channel_) return;
    ares_process_fd(channel_, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
    schedule_timeout();
}

// A caller's side of a lookup: its timer (on the caller's executor) expires at the deadline
// or is cancelled when the answer is posted.
struct Resolver::CallerWait {
    CallerWait(asio::any_io_executor executor, clock::time_point deadline) : timer(std::move(executor), deadline) {}
    asio::steady_timer timer;
    std::optional<Result> result;  // set on the caller's executor
};

Resolver::Resolver(asio::any_io_executor executor, ResolverOptions options)
    : impl_(std::make_shared<Impl>(std::move(executor), options)) {}

Resolver::~Resolver() { impl_->shutdown(); }

asio::awaitable<Result> Resolver::resolve(std::string host, std::uint16_t port, std::chrono::milliseconds timeout) {
    const auto deadline = deadline_after(timeout);
    if (auto endpoint = numeric_endpoint(host, port)) co_return Endpoints{*endpoint};
    if (host.empty() || host.find('\0') != std::string::npos) co_return failure(asio::error::host_not_found);
    // The lookup runs on the channel's strand; the caller waits on a timer of its own, on its
    // own executor, which the lookup's answer cancels (posted there). So the caller's
    // cancellation stays on the caller's executor: Asio 1.81 forwards a cancellation across
    // executors by a posted handler that points into the caller's slot, which the caller
    // frees as it resumes. The lookup holds what it uses; an answer nobody waits for is dropped.
    auto waiting = std::make_shared<CallerWait>(co_await asio::this_coro::executor, deadline);
    auto lookup = [](std::shared_ptr<Impl> impl, std::string name, std::uint16_t p, clock::time_point until,
                     std::shared_ptr<CallerWait> caller) -> asio::awaitable<void> {
        auto result = co_await Impl::run(std::move(impl), std::move(name), p, until);
        auto executor = caller->timer.get_executor();
        asio::post(executor, [caller = std::move(caller), result = std::move(result)]() mutable {
            caller->result = std::move(result);
            caller->timer.cancel();
        });
    };
    asio::co_spawn(impl_->strand(), lookup(impl_, std::move(host), port, deadline, waiting), asio::detached);
    auto [ec] = co_await waiting->timer.async_wait(use_nothrow);
    if (waiting->result) co_return std::move(*waiting->result);
    co_return failure(ec == asio::error::operation_aborted ? asio::error::operation_aborted : asio::error::timed_out);
}

}  // namespace jobq::net
