#include "http_client.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstring>

namespace jobq::test {

HttpClient::HttpClient(std::uint16_t port, std::chrono::milliseconds timeout) : port_(port), timeout_(timeout) {}

HttpClient::~HttpClient() { close(); }

void HttpClient::close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    buffer_.clear();
}

bool HttpClient::connect() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) return false;
    timeval tv{};
    tv.tv_sec = timeout_.count() / 1000;
    tv.tv_usec = (timeout_.count() % 1000) * 1000;
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port_);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        close();
        return false;
    }
    return true;
}

std::optional<HttpReply> HttpClient::request(const std::string& method, const std::string& target,
                                             const std::string& body, const std::string& content_type) {
    std::string bytes = method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
    for (const auto& [name, value] : headers_) bytes += name + ": " + value + "\r\n";
    if (!body.empty() || method == "POST") {
        bytes += "Content-Type: " + content_type + "\r\n";
        bytes += "Content-Length: " + std::to_string(body.size()) + "\r\n";
    }
    bytes += "\r\n" + body;
    return raw(bytes);
}

std::optional<HttpReply> HttpClient::raw(const std::string& bytes) {
    // A kept-alive connection the server has closed fails here; reconnect once.
    for (int attempt = 0; attempt < 2; ++attempt) {
        if (fd_ < 0 && !connect()) return std::nullopt;
        std::size_t sent = 0;
        while (sent < bytes.size()) {
            const auto n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
            if (n <= 0) break;
            sent += static_cast<std::size_t>(n);
        }
        // Even when the server stopped reading (a 413), its reply may be waiting.
        if (auto reply = read_reply()) return reply;
        const bool nothing_arrived = buffer_.empty() && sent == bytes.size();
        close();
        if (attempt > 0 || !nothing_arrived) return std::nullopt;
    }
    return std::nullopt;
}

bool HttpClient::send_only(const std::string& bytes) {
    if (fd_ < 0 && !connect()) return false;
    std::size_t sent = 0;
    while (sent < bytes.size()) {
        const auto n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
        if (n <= 0) return false;
        sent += static_cast<std::size_t>(n);
    }
    return true;
}

bool HttpClient::closed_by_server(std::chrono::milliseconds timeout) {
    if (fd_ < 0) return true;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, 50) <= 0) continue;
        char chunk[4096];
        const auto n = ::recv(fd_, chunk, sizeof chunk, 0);
        if (n <= 0) return true;  // end of stream or reset
    }
    return false;
}

std::optional<HttpReply> HttpClient::read_reply() {
    auto fill = [this]() {
        char chunk[65536];
        const auto n = ::recv(fd_, chunk, sizeof chunk, 0);
        if (n <= 0) return false;
        buffer_.append(chunk, static_cast<std::size_t>(n));
        return true;
    };
    std::size_t header_end;
    while ((header_end = buffer_.find("\r\n\r\n")) == std::string::npos)
        if (!fill()) return std::nullopt;

    HttpReply reply;
    const std::string head = buffer_.substr(0, header_end);
    if (head.size() < 12 || head.compare(0, 5, "HTTP/") != 0) return std::nullopt;
    reply.status = std::stoi(head.substr(9, 3));
    std::size_t line_start = head.find("\r\n");
    while (line_start != std::string::npos && line_start < head.size()) {
        const std::size_t next = head.find("\r\n", line_start + 2);
        const std::string line = head.substr(line_start + 2, (next == std::string::npos ? head.size() : next) - line_start - 2);
        if (const auto colon = line.find(':'); colon != std::string::npos) {
            std::string name = line.substr(0, colon);
            std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
            std::string value = line.substr(colon + 1);
            value.erase(0, value.find_first_not_of(' '));
            reply.headers[name] = value;
        }
        line_start = next;
    }
    std::size_t length = 0;
    if (auto it = reply.headers.find("content-length"); it != reply.headers.end()) length = std::stoul(it->second);
    const std::size_t body_start = header_end + 4;
    while (buffer_.size() < body_start + length)
        if (!fill()) return std::nullopt;
    reply.body = buffer_.substr(body_start, length);
    buffer_.erase(0, body_start + length);
    if (auto it = reply.headers.find("connection"); it != reply.headers.end() && it->second == "close") close();
    return reply;
}

}  // namespace jobq::test
