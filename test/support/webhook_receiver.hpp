#pragma once
// A real HTTP/1.1 server (Beast) on loopback that webhooks are delivered to, over plain
// TCP or TLS. It records every request, counts connections, and answers as a script says:
// a status, headers, a body, or no answer at all. It runs on a thread of its own.

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace jobq::test {

struct ReceivedRequest {
    std::string method;
    std::string target;
    std::map<std::string, std::string> headers;  // names in lower case
    std::string body;
    std::size_t connection = 0;  // 1 for the first connection accepted, and so on
    std::chrono::steady_clock::time_point at;
};

struct ReceiverReply {
    unsigned status = 200;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
    bool hang = false;   // never answer; the connection stays open until the receiver stops
    bool close = false;  // close the connection after answering, without saying so first
};

// Decides the reply to the n-th request (1-based, across connections).
using ReceiverScript = std::function<ReceiverReply(const ReceivedRequest& request, std::size_t n)>;

struct TlsFiles {
    std::string cert;  // PEM
    std::string key;
};

class WebhookReceiver {
public:
    // `record` false: only counts are kept (for load). `port` 0: any free port.
    explicit WebhookReceiver(ReceiverScript script = {}, std::optional<TlsFiles> tls = std::nullopt,
                             bool record = true, std::uint16_t port = 0);
    ~WebhookReceiver();
    WebhookReceiver(const WebhookReceiver&) = delete;
    WebhookReceiver& operator=(const WebhookReceiver&) = delete;

    std::uint16_t port() const { return port_; }
    std::size_t connections() const;
    std::size_t request_count() const;
    std::vector<ReceivedRequest> requests() const;

    struct State;  // shared with the connections, defined in the .cpp

private:
    std::shared_ptr<State> state_;
    boost::asio::io_context io_;
    std::uint16_t port_ = 0;
    std::thread thread_;
};

}  // namespace jobq::test
