#pragma once
// A small blocking HTTP/1.1 client over loopback for tests: keep-alive, Content-Length
// bodies, a receive timeout. Deliberately independent of the server's HTTP code.

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>

namespace jobq::test {

struct HttpReply {
    int status = 0;
    std::map<std::string, std::string> headers;  // names lower-cased
    std::string body;
};

class HttpClient {
public:
    explicit HttpClient(std::uint16_t port, std::chrono::milliseconds timeout = std::chrono::seconds(10));
    ~HttpClient();
    HttpClient(const HttpClient&) = delete;
    HttpClient& operator=(const HttpClient&) = delete;

    // Nullopt when the connection fails or the reply is cut off (the server died).
    std::optional<HttpReply> request(const std::string& method, const std::string& target,
                                     const std::string& body = {},
                                     const std::string& content_type = "application/json");

    std::optional<HttpReply> get(const std::string& target) { return request("GET", target); }
    std::optional<HttpReply> post(const std::string& target, const std::string& body) {
        return request("POST", target, body);
    }

    // Sends raw bytes on the connection and reads one reply.
    std::optional<HttpReply> raw(const std::string& bytes);

    // Added to every request from now on (e.g. Authorization).
    void set_header(const std::string& name, const std::string& value) { headers_[name] = value; }

    // The pieces of raw(), for pipelining and slow clients: send without reading, then
    // read replies one by one.
    bool send_only(const std::string& bytes);
    std::optional<HttpReply> read_reply();

    // True when the server closes the connection within `timeout` (nothing else arrives).
    bool closed_by_server(std::chrono::milliseconds timeout);

private:
    bool connect();
    void close();
    std::uint16_t port_;
    std::chrono::milliseconds timeout_;
    int fd_ = -1;
    std::string buffer_;
    std::map<std::string, std::string> headers_;
};

}  // namespace jobq::test
