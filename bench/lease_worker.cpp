// An external worker for the benchmarks (bench/run's "worker" section), through the same
// HTTP client as `jobq work`:
//
//   lease_worker drain   PORT TYPE [MAX=100]    lease MAX at a time, ack them all with one
//                                               POST /leases/settle, until a lease waiting
//                                               1 s finds nothing; prints "JOBQ settled=N lost=M"
//   lease_worker latency PORT TYPE [COUNT=500]  COUNT times: a long poll waits on the idle
//                                               server, then one job is POSTed; prints the
//                                               enqueue -> delivered and POST /jobs round-trip
//                                               times: "JOBQ delivered_p50_us=... enqueue_p50_us=..."
// Loopback only.

#include "app/cli/api_client.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <numeric>
#include <string>
#include <vector>

namespace asio = boost::asio;
namespace json = boost::json;
using jobq::app::cli::ApiClient;
using jobq::app::cli::CallResult;
using clock_type = std::chrono::steady_clock;
using namespace asio::experimental::awaitable_operators;

namespace {

struct Setup {
    std::string type;
    int max = 100;
    int count = 500;
};

std::string lease_body(const Setup& setup, int max, int wait_ms) {
    return json::serialize(json::object{{"types", json::array{json::value(setup.type)}}, {"max", max}, {"wait_ms", wait_ms}});
}

// {"ack":[{"id","token"}...]} for every job of a lease answer; their number in `count`.
std::string acks_for(const std::string& leased, std::size_t& count) {
    json::array acks;
    const auto answer = json::parse(leased);  // kept: a range-for over a temporary's member dangles
    for (const auto& job : answer.at("jobs").as_array())
        acks.push_back(json::object{{"id", job.at("id")}, {"token", job.at("lease").at("token")}});
    count = acks.size();
    return json::serialize(json::object{{"ack", std::move(acks)}});
}

CallResult must(CallResult result, const char* what) {
    if (!result || !result->ok()) {
        std::cerr << "lease_worker: " << what << ": " << (result ? result->error_text() : result.error().message) << "\n";
        std::exit(1);
    }
    return result;
}

asio::awaitable<CallResult> post(ApiClient& client, std::string target, std::string body) {
    return client.call("POST", std::move(target), std::move(body));
}

asio::awaitable<void> drain(ApiClient& client, Setup setup) {
    std::size_t settled = 0;
    std::size_t lost = 0;
    for (;;) {
        auto lease = post(client, "/leases", lease_body(setup, setup.max, 1'000));
        const auto leased = must(co_await std::move(lease), "lease");
        std::size_t count = 0;
        auto settle_body = acks_for(leased->body, count);
        if (count == 0) break;
        auto settle = post(client, "/leases/settle", std::move(settle_body));
        const auto answer = must(co_await std::move(settle), "settle");
        const auto results = json::parse(answer->body);
        for (const auto& result : results.at("results").as_array())
            (result.at("status").as_string() == "ok" ? settled : lost) += 1;
    }
    std::printf("JOBQ settled=%zu lost=%zu\n", settled, lost);
}

std::int64_t percentile_us(std::vector<std::int64_t> values, int percent) {
    std::sort(values.begin(), values.end());
    return values[values.size() * static_cast<std::size_t>(percent) / 100];
}

asio::awaitable<CallResult> poll_then_note(ApiClient& client, Setup setup, clock_type::time_point& delivered) {
    auto lease = post(client, "/leases", lease_body(setup, 1, 10'000));
    auto result = co_await std::move(lease);
    delivered = clock_type::now();
    co_return result;
}

// POSTs the job once the poll has had time to park on the idle server; the round trip.
asio::awaitable<std::int64_t> enqueue_after_a_pause(ApiClient& submitter, const std::string& job,
                                                    clock_type::time_point& sent) {
    asio::steady_timer pause(co_await asio::this_coro::executor, std::chrono::milliseconds(5));
    co_await pause.async_wait(asio::use_awaitable);
    sent = clock_type::now();
    auto enqueue = post(submitter, "/jobs", job);
    must(co_await std::move(enqueue), "enqueue");
    co_return std::chrono::duration_cast<std::chrono::microseconds>(clock_type::now() - sent).count();
}

asio::awaitable<void> latency(ApiClient& poller, ApiClient& submitter, Setup setup) {
    std::vector<std::int64_t> delivered_us;
    std::vector<std::int64_t> enqueue_us;
    const std::string job = json::serialize(json::object{{"type", setup.type}, {"payload", json::object{}}});
    for (int i = 0; i < setup.count; ++i) {
        clock_type::time_point sent;
        clock_type::time_point delivered;
        auto both = poll_then_note(poller, setup, delivered) && enqueue_after_a_pause(submitter, job, sent);
        auto [leased, enqueue_took] = co_await std::move(both);
        const auto answer = must(std::move(leased), "lease");
        std::size_t count = 0;
        auto acks = acks_for(answer->body, count);
        if (count != 1) {
            std::cerr << "lease_worker: the long poll ended with " << count << " jobs\n";
            std::exit(1);
        }
        enqueue_us.push_back(enqueue_took);
        delivered_us.push_back(std::chrono::duration_cast<std::chrono::microseconds>(delivered - sent).count());
        auto settle = post(submitter, "/leases/settle", std::move(acks));
        must(co_await std::move(settle), "settle");
    }
    const auto mean = std::accumulate(delivered_us.begin(), delivered_us.end(), std::int64_t{0}) /
                      static_cast<std::int64_t>(delivered_us.size());
    std::printf("JOBQ delivered_p50_us=%lld delivered_p99_us=%lld delivered_mean_us=%lld enqueue_p50_us=%lld "
                "enqueue_p99_us=%lld\n",
                static_cast<long long>(percentile_us(delivered_us, 50)),
                static_cast<long long>(percentile_us(delivered_us, 99)), static_cast<long long>(mean),
                static_cast<long long>(percentile_us(enqueue_us, 50)),
                static_cast<long long>(percentile_us(enqueue_us, 99)));
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 4) {
        std::cerr << "usage: lease_worker drain|latency PORT TYPE [MAX|COUNT]\n";
        return 2;
    }
    const std::string mode = argv[1];
    jobq::app::cli::Endpoint endpoint;
    endpoint.origin.host = "127.0.0.1";
    endpoint.origin.port = static_cast<std::uint16_t>(std::stoi(argv[2]));
    Setup setup{.type = argv[3]};
    if (argc > 4) (mode == "drain" ? setup.max : setup.count) = std::stoi(argv[4]);
    asio::io_context io;
    ApiClient client(io.get_executor(), endpoint, std::chrono::seconds(30));
    ApiClient submitter(io.get_executor(), endpoint, std::chrono::seconds(30));
    if (mode == "drain") {
        asio::co_spawn(io, drain(client, setup), [&](std::exception_ptr e) {
            if (e) std::rethrow_exception(e);
            io.stop();
        });
    } else if (mode == "latency") {
        asio::co_spawn(io, latency(client, submitter, setup), [&](std::exception_ptr e) {
            if (e) std::rethrow_exception(e);
            io.stop();
        });
    } else {
        std::cerr << "lease_worker: unknown mode " << mode << "\n";
        return 2;
    }
    io.run();
    return 0;
}
