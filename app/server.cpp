#include "app/server.hpp"

#include "app/api.hpp"
#include "common/asio_tokens.hpp"
#include "core/engine.hpp"
#include "core/scheduler.hpp"
#include "core/log.hpp"
#include "core/retention.hpp"
#include "handlers/email.hpp"
#include "handlers/noop.hpp"
#include "handlers/webhook.hpp"
#include "net/cidr.hpp"
#include "net/http_server.hpp"
#include "net/tls_context.hpp"
#include "app/server_store.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/asio/ip/address.hpp>

#include <algorithm>
#include <cctype>
#include <csignal>
#include <cstdlib>
#include <thread>
#include <vector>

namespace jobq::app {

namespace asio = boost::asio;
namespace log = core::log;

namespace {

// After the engine has stopped, requests already being handled get this long to finish.
constexpr std::chrono::seconds request_grace{5};

// SMTP_TLS, or by the port when it is not set: 465 speaks TLS from the first byte.
net::smtp::TlsMode smtp_tls_mode(const Config& c) {
    if (c.smtp_tls == "none") return net::smtp::TlsMode::none;
    if (c.smtp_tls == "tls" || (c.smtp_tls.empty() && c.smtp_port == 465)) return net::smtp::TlsMode::implicit;
    return net::smtp::TlsMode::starttls;
}

std::optional<handlers::EmailSettings> email_settings(const Config& c) {
    if (c.smtp_host.empty()) return std::nullopt;
    namespace smtp = net::smtp;
    handlers::EmailSettings s;
    s.server.host = c.smtp_host;
    s.server.port = static_cast<std::uint16_t>(c.smtp_port);
    s.server.tls = smtp_tls_mode(c);
    if (!c.smtp_user.empty()) s.server.credentials = smtp::Credentials{c.smtp_user, c.smtp_password};
    s.server.ca_file = c.smtp_ca_file;
    s.server.timeout = std::chrono::milliseconds(c.smtp_timeout_ms);
    s.pool.size = static_cast<std::size_t>(c.smtp_pool_size);
    s.pool.max_messages = static_cast<std::uint64_t>(c.smtp_max_messages);
    s.pool.rate_limit = static_cast<double>(c.smtp_rate_limit);
    s.from = c.smtp_from.empty() ? c.smtp_user : c.smtp_from;
    return s;
}

handlers::WebhookSettings webhook_settings(const Config& c) {
    handlers::WebhookSettings s;
    s.client.timeout = std::chrono::milliseconds(c.webhook_timeout_ms);
    s.client.ca_file = c.ca_file;
    s.client.deny = *net::parse_cidr_list(c.webhook_deny);  // validated by load_config
    s.client.max_idle_per_origin = static_cast<std::size_t>(c.workers);
    s.secret = c.webhook_secret;
    return s;
}

// The SMTP pool and the HTTP client, with their TLS contexts, are made here, once.
core::HandlerRegistry make_handlers(const Config& config, asio::any_io_executor executor) {
    core::HandlerRegistry handlers;
    handlers.add(std::make_unique<handlers::NoopHandler>());
    handlers.add(std::make_unique<handlers::EmailHandler>(email_settings(config), executor));
    handlers.add(std::make_unique<handlers::WebhookHandler>(webhook_settings(config), executor));
    return handlers;
}

// A CA file that cannot be loaded is a configuration error, reported now rather than as
// the last_error of every job that needs it.
bool ca_files_load(const Config& c) {
    for (const auto* file : {&c.ca_file, &c.smtp_ca_file}) {
        if (file->empty()) continue;
        try {
            net::make_tls_context(*file);
        } catch (const std::exception& e) {
            log::error("cannot load CA certificates", {{"file", *file}, {"error", e.what()}});
            return false;
        }
    }
    return true;
}

core::EngineOptions engine_options(const Config& c, core::Metrics* metrics, unsigned threads) {
    core::EngineOptions o;
    o.event_loop_threads = threads;
    o.metrics = metrics;
    o.workers = static_cast<std::size_t>(c.workers);
    o.visibility_timeout_ms = c.visibility_timeout_ms;
    o.shutdown_timeout_ms = c.shutdown_timeout_ms;
    o.retry = {c.retry_base_ms, c.retry_max_ms};
    return o;
}

core::RetentionOptions retention_options(const Config& c) {
    core::RetentionOptions o;
    o.finished_ms = c.retention_ms > 0 ? std::optional<core::millis>(c.retention_ms) : std::nullopt;
    o.failed_ms = c.failed_retention_ms > 0 ? std::optional<core::millis>(c.failed_retention_ms) : std::nullopt;
    o.sweep_interval = std::chrono::milliseconds(c.retention_sweep_ms);
    return o;
}

// Before serving: every `processing` row was left by a process that is gone.
void recover(asio::io_context& io, core::JobStore& store) {
    auto done = asio::co_spawn(io, store.recover(core::system_now_ms()), asio::use_future);
    io.run();
    io.restart();
    const auto report = done.get();
    log::info("recovery finished", {{"requeued", std::to_string(report.requeued)},
                                    {"dead_lettered", std::to_string(report.dead_lettered)}});
}

asio::awaitable<void> wait_for_requests(net::HttpServer& http) {
    asio::steady_timer timer(co_await asio::this_coro::executor);
    const auto deadline = std::chrono::steady_clock::now() + request_grace;
    while ((http.active_requests() > 0 || http.active_streams() > 0) && std::chrono::steady_clock::now() < deadline) {
        timer.expires_after(std::chrono::milliseconds(5));
        co_await timer.async_wait(use_nothrow);
    }
}

asio::awaitable<void> shut_down(asio::io_context& io, net::HttpServer& http, Api& api, core::Engine& engine,
                                core::RetentionSweeper& retention, core::Scheduler& scheduler, ServerStore& store) {
    http.stop_accepting();
    api.start_draining();
    log::info("shutting down");  // after the switch: a request that sees this line sees the server draining
    co_await scheduler.stop();
    co_await retention.stop();
    co_await engine.stop();
    co_await store.leave();  // after the engine: its last outcomes are stored
    co_await wait_for_requests(http);
    io.stop();
}

// The database thread is busy whenever the server is, so it gets a hardware thread of its
// own. More event-loop threads than cores left over cost more in wake-ups and contention on
// the io_context than they add (on 2 cores: 16 µs of CPU per GET /healthz with one thread,
// 33 µs with two).
unsigned default_event_loop_threads() {
    const unsigned hardware = std::thread::hardware_concurrency();
    return hardware > 2 ? hardware - 1 : 1;
}

}  // namespace

net::HttpServerOptions http_options(const Config& c) {
    net::HttpServerOptions o;
    o.bind_address = c.bind;
    o.port = c.port;
    o.max_body_bytes = static_cast<std::size_t>(c.max_body_bytes);
    o.max_connections = static_cast<std::size_t>(c.max_connections);
    o.idle_timeout = std::chrono::milliseconds(c.idle_timeout_ms);
    o.header_timeout = std::chrono::milliseconds(c.header_timeout_ms);
    o.request_timeout = std::chrono::milliseconds(c.request_timeout_ms);
    return o;
}

namespace {

// --allowed-hosts: "Jobs.Example, proxy" -> {"jobs.example", "proxy"}.
std::vector<std::string> host_list(const std::string& text) {
    std::vector<std::string> hosts;
    std::string host;
    for (const char c : text + ",") {
        if (c == ',') {
            if (!host.empty()) hosts.push_back(std::move(host));
            host.clear();
        } else if (!std::isspace(static_cast<unsigned char>(c))) {
            host += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        }
    }
    return hosts;
}

}  // namespace

ApiOptions api_options(const Config& c, core::ExternalTypes external_types, core::WakeSignal& lease_wakeups) {
    ApiOptions o;
    o.api_token = c.api_token;
    boost::system::error_code bad_address;
    const auto bound = asio::ip::make_address(c.bind, bad_address);
    o.allowed_hosts = host_list(c.allowed_hosts);
    const bool any_host = std::find(o.allowed_hosts.begin(), o.allowed_hosts.end(), "*") != o.allowed_hosts.end();
    o.loopback_only = !bad_address && bound.is_loopback() && !any_host;
    o.worker_token = c.worker_token;
    o.visibility_timeout_ms = c.visibility_timeout_ms;
    o.retry = {c.retry_base_ms, c.retry_max_ms};
    o.lease_wakeups = &lease_wakeups;
    o.external_types = std::move(external_types);
    o.max_pending_writes = static_cast<std::size_t>(c.max_pending_writes);
    o.access_log = c.access_log;
    return o;
}

int run_server(const Config& config) {
    log::set_level(config.log_level);
    const log::BufferedOutput log_output;
    if (!ca_files_load(config)) return 1;
    core::Metrics metrics_registry;
    core::Metrics* metrics = config.metrics ? &metrics_registry : nullptr;
    const auto threads = config.threads > 0 ? static_cast<unsigned>(config.threads) : default_event_loop_threads();
    // Before the io_context: a long poll's wait, destroyed with the io_context's pending
    // handlers, leaves the signal's list on its way out.
    core::WakeSignal lease_wakeups;
    asio::io_context io(static_cast<int>(threads));
    // After the io_context, so gone before it on every return: a PostgreSQL connection's
    // socket belongs to the io_context.
    std::unique_ptr<ServerStore> store;
    try {
        store = open_server_store(config, io, metrics);
    } catch (const std::exception& e) {
        log::error("cannot open the database", {{"db", config.db}, {"error", e.what()}});
        return 1;
    }
    try {
        recover(io, store->jobs());
    } catch (const std::exception& e) {
        log::error("recovery failed", {{"error", e.what()}});
        return 1;
    }

    std::optional<core::HandlerRegistry> made;
    try {
        made.emplace(make_handlers(config, io.get_executor()));
    } catch (const std::exception& e) {
        log::error("cannot set up the job handlers", {{"error", e.what()}});
        return 1;
    }
    const core::HandlerRegistry& handlers = *made;
    if (!config.worker_token.empty() && config.worker_token == config.api_token) {
        log::error("--worker-token must differ from --api-token: it would grant everything");
        return 2;
    }
    if (!config.worker_token.empty() && config.api_token.empty())
        log::warn("--worker-token without --api-token: every route but the lease routes is open to anyone");
    auto external_types = core::ExternalTypes::parse(config.external_types, handlers.types());
    if (!external_types) {
        log::error("bad --external-types", {{"error", external_types.error().message}});
        return 2;
    }
    auto options = engine_options(config, metrics, threads);
    options.lease_wakeups = &lease_wakeups;
    options.queue_rules = &store->queue_rules();
    options.leadership = store->leadership();
    core::Engine engine(io, store->jobs(), handlers, std::move(options));
    core::SchedulerOptions scheduler_options;
    scheduler_options.metrics = metrics;
    scheduler_options.leadership = store->leadership();
    scheduler_options.fired = [&engine, &lease_wakeups] {
        engine.notify_enqueued();
        lease_wakeups.notify_all();  // a template may be of an external type
    };
    core::Scheduler scheduler(io, store->schedules(), std::move(scheduler_options));
    auto options_for_api = api_options(config, std::move(*external_types), lease_wakeups);
    options_for_api.schedules_changed = [&scheduler] { scheduler.changed(); };
    options_for_api.queue_rules = &store->queue_rules();
    Api api({store->jobs(), store->admin(), store->admin(), store->leases(), store->admin(), store->schedules(),
             store->queue_settings()},
            engine, engine, handlers, metrics,
            std::move(options_for_api), core::system_clock());
    auto retention_settings = retention_options(config);
    retention_settings.leadership = store->leadership();
    core::RetentionSweeper retention(io, store->admin(), std::move(retention_settings));

    std::unique_ptr<net::HttpServer> http;
    try {
        http = std::make_unique<net::HttpServer>(io, http_options(config),
                                                 [&api](net::HttpRequest r) { return api.handle(std::move(r)); });
    } catch (const std::exception& e) {
        log::error("cannot listen", {{"bind", config.bind}, {"port", std::to_string(config.port)}, {"error", e.what()}});
        return 1;
    }

    asio::signal_set signals(io, SIGINT, SIGTERM);
    bool stopping = false;
    std::function<void(const boost::system::error_code&, int)> on_signal = [&](const boost::system::error_code& ec,
                                                                                int signal) {
        if (ec) return;
        if (stopping) {
            // Recovery requeues whatever was running on the next start.
            log::warn("second signal: exiting at once", {{"signal", std::to_string(signal)}});
            std::_Exit(1);
        }
        stopping = true;
        asio::co_spawn(io, shut_down(io, *http, api, engine, retention, scheduler, *store), [](std::exception_ptr e) {
            if (e) log::error("shutdown failed");
        });
        signals.async_wait(on_signal);
    };
    signals.async_wait(on_signal);

    store->listen(
        [&engine, &lease_wakeups] {
            engine.notify_enqueued();
            lease_wakeups.notify_all();
        },
        [&scheduler] { scheduler.changed(); });
    engine.start();
    retention.start();
    scheduler.start();
    http->start();
    log::info("listening", {{"bind", config.bind}, {"port", std::to_string(http->port())},
                            {"db", store->description()}, {"workers", std::to_string(config.workers)}});

    std::vector<std::thread> pool;
    for (unsigned i = 1; i < threads; ++i) pool.emplace_back([&io] { io.run(); });
    io.run();
    for (auto& t : pool) t.join();

    store->before_exit();
    // The store goes before the io_context: an operation its DB thread is still finishing
    // holds the io_context's executor until its thread is joined here.
    store.reset();
    log::info("stopped");
    return 0;
}

}  // namespace jobq::app
