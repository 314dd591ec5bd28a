#pragma once
// Name resolution driven by the io_context (c-ares), for lookups the event loop must not
// wait on: asio's tcp::resolver runs getaddrinfo on one hidden thread, so one slow name
// stalls every lookup behind it and a timeout cannot stop it. Here each lookup has its own
// deadline and a slow one delays no other.
//
// A name is looked up in /etc/hosts first, then in DNS (A and AAAA, with the search
// domains of /etc/resolv.conf); `localhost` never goes to DNS. A numeric address is
// answered at once, without a lookup.
//
// Thread-safety: resolve() may be called and awaited from any thread and executor at
// once; the c-ares channel is used only on the Resolver's own strand, made from the
// executor given, and the caller resumes on its own executor.
//
// Cancellation: resolve() obeys its caller's cancellation (operation_aborted) on the
// caller's own executor, which must be a strand or run by one thread (a job's run is). An
// abandoned query (deadline passed, cancelled) is left to c-ares, which ends it within a
// few seconds.
//
// Lifetime: destroy the Resolver before its io_context, and when none of its handlers can
// run at the same time: while the io_context is not running, or from a handler on the
// executor it was given when that executor is a strand or an io_context run by one thread.
// A lookup still pending then completes with operation_aborted if the io_context runs
// again (never inside the destructor); what it touches stays alive until then.
// c-ares stays in resolver.cpp.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/system/result.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace jobq::net {

struct ResolverOptions {
    // c-ares server list "127.0.0.1:5353,..." (ares_set_servers_ports_csv); empty: the system's (/etc/resolv.conf)
    std::string servers;
};

class Resolver {
public:
    // Throws std::runtime_error if c-ares cannot start or `options.servers` is malformed.
    explicit Resolver(boost::asio::any_io_executor executor, ResolverOptions options = {});
    ~Resolver();
    Resolver(const Resolver&) = delete;
    Resolver& operator=(const Resolver&) = delete;

    // Addresses of `host` (a name, or a numeric IPv4/IPv6 address, IPv6 without brackets),
    // with `port`, without duplicates, in c-ares's preference order (RFC 6724).
    // Completes by `timeout` at the latest. Errors as values, never thrown:
    //   timed_out                  the deadline passed, or the DNS servers did not answer
    //   host_not_found             the name does not exist (or is empty)
    //   no_data                    the name exists but has no address
    //   host_not_found_try_again   the servers failed (SERVFAIL, REFUSED) or refused the connection
    //   operation_aborted          the caller cancelled, or the Resolver was destroyed
    //   invalid_argument           a malformed name
    //   no_memory, no_recovery     anything else
    boost::asio::awaitable<boost::system::result<std::vector<boost::asio::ip::tcp::endpoint>>>
    resolve(std::string host, std::uint16_t port, std::chrono::milliseconds timeout);

private:
    class Impl;
    struct CallerWait;
    std::shared_ptr<Impl> impl_;  // shared with handlers still queued, so none can outlive it
};

}  // namespace jobq::net
