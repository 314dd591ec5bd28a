#pragma once
// Parses one HTTP request straight into an HttpRequest. Every field is parsed and counts
// towards the header limit, but only the few the API reads are kept: Beast's
// request_parser would store each field in a node of its own (an allocation per header
// line) to have them copied out again. Measured: 46,000 -> 42,876 instructions per
// POST /jobs on the event loop, -7% (bench/README.md, bench/run, "What changed"). Limits,
// chunked bodies and keep-alive are Beast's basic_parser's, as with request_parser.
//
// Included by the HTTP server only: Beast stays out of the headers the rest includes.

#include "net/http_types.hpp"

#include <boost/beast/http/basic_parser.hpp>

#include <cstdint>
#include <utility>

namespace jobq::net {

class RequestParser final : public boost::beast::http::basic_parser<true> {
public:
    unsigned version() const { return version_; }  // 10 or 11, once the request line is in
    HttpRequest release() { return std::move(request_); }

private:
    using string_view = boost::beast::string_view;
    using error_code = boost::beast::error_code;
    using field = boost::beast::http::field;

    void on_request_impl(boost::beast::http::verb, string_view method, string_view target, int version,
                         error_code&) override {
        request_.method.assign(method.data(), method.size());
        request_.target.assign(target.data(), target.size());
        version_ = static_cast<unsigned>(version);
    }

    void on_response_impl(int, string_view, int, error_code&) override {}  // a request parser: never called

    // The first occurrence of a repeated field is the one read, as `message[field]` gives.
    void on_field_impl(field name, string_view, string_view value, error_code&) override {
        if (name == field::content_type && !content_type_seen_) {
            request_.content_type.assign(value.data(), value.size());
            content_type_seen_ = true;
        } else if (name == field::authorization && !authorization_seen_) {
            request_.authorization.assign(value.data(), value.size());
            authorization_seen_ = true;
        } else if (name == field::host) {
            first_only(request_.host, host_seen_, value);
        } else if (name == field::origin) {
            first_only(request_.origin, origin_seen_, value);
        } else if (name == field::if_none_match) {
            first_only(request_.if_none_match, if_none_match_seen_, value);
        } else if (name == field::sec_fetch_site) {
            first_only(request_.sec_fetch_site, sec_fetch_site_seen_, value);
        }
    }

    static void first_only(std::string& out, bool& seen, string_view value) {
        if (seen) return;
        out.assign(value.data(), value.size());
        seen = true;
    }

    void on_header_impl(error_code&) override {}

    // The length was checked against the body limit before this is called.
    void on_body_init_impl(const boost::optional<std::uint64_t>& content_length, error_code&) override {
        if (content_length) request_.body.reserve(static_cast<std::size_t>(*content_length));
    }

    std::size_t on_body_impl(string_view body, error_code&) override {
        request_.body.append(body.data(), body.size());
        return body.size();
    }

    void on_chunk_header_impl(std::uint64_t, string_view, error_code&) override {}

    std::size_t on_chunk_body_impl(std::uint64_t, string_view body, error_code&) override {
        request_.body.append(body.data(), body.size());
        return body.size();
    }

    void on_finish_impl(error_code&) override {}

    HttpRequest request_;
    unsigned version_ = 11;
    bool content_type_seen_ = false;
    bool authorization_seen_ = false;
    bool host_seen_ = false;
    bool origin_seen_ = false;
    bool if_none_match_seen_ = false;
    bool sec_fetch_site_seen_ = false;
};

}  // namespace jobq::net
