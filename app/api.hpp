#pragma once
// The REST API: maps HTTP requests onto the job store and the engine.
// Thread-safe: handle() may run on any connection's strand at once.

#include "core/engine.hpp"
#include "core/handler_registry.hpp"
#include "core/job_store.hpp"
#include "net/http_types.hpp"

#include <boost/asio/awaitable.hpp>

#include <atomic>

namespace jobq::app {

class Api {
public:
    Api(core::JobStore& store, core::Engine& engine, const core::HandlerRegistry& handlers, core::Clock clock);

    boost::asio::awaitable<net::HttpResponse> handle(net::HttpRequest request);

    // After this, submissions are answered 503 (the server is shutting down).
    void start_draining() { draining_ = true; }

private:
    boost::asio::awaitable<net::HttpResponse> create_job(const net::HttpRequest& request);
    boost::asio::awaitable<net::HttpResponse> get_job(std::string_view id_text);

    core::JobStore& store_;
    core::Engine& engine_;
    const core::HandlerRegistry& handlers_;
    core::Clock clock_;
    std::atomic<bool> draining_{false};
};

}  // namespace jobq::app
