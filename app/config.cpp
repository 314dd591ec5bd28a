#include "app/config.hpp"

#include "core/duration.hpp"

#include "net/cidr.hpp"

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <string_view>
#include <utility>

namespace jobq::app {
namespace {

using Setter = std::function<std::optional<std::string>(Config&, const std::string&)>;

struct Option {
    std::string flag;  // without the leading "--"
    std::string env;
    std::string default_text;
    std::string help;
    Setter set;
    std::string alias_env = {};  // an older name also read (the original project's)
};

std::optional<std::int64_t> parse_int(const std::string& text) {
    std::int64_t value = 0;
    const auto* end = text.data() + text.size();
    const auto [ptr, ec] = std::from_chars(text.data(), end, value);
    if (ec != std::errc() || ptr != end || text.empty()) return std::nullopt;
    return value;
}

Setter integer(std::int64_t Config::*field, std::int64_t min, std::int64_t max) {
    return [=](Config& c, const std::string& v) -> std::optional<std::string> {
        const auto n = parse_int(v);
        if (!n || *n < min || *n > max)
            return "must be an integer from " + std::to_string(min) + " to " + std::to_string(max);
        c.*field = *n;
        return std::nullopt;
    };
}

Setter text(std::string Config::*field) {
    return [=](Config& c, const std::string& v) -> std::optional<std::string> {
        c.*field = v;
        return std::nullopt;
    };
}

// A duration (core/duration.hpp); "0" or "off": none.
std::optional<std::int64_t> parse_duration_ms(const std::string& text) {
    if (text == "off") return 0;
    return core::parse_duration_ms(text);
}

Setter duration(std::int64_t Config::*field) {
    return [=](Config& c, const std::string& v) -> std::optional<std::string> {
        const auto ms = parse_duration_ms(v);
        if (!ms) return "must be a duration such as 7d, 12h, 30m, 45s or 250ms (0 or off: keep forever)";
        c.*field = *ms;
        return std::nullopt;
    };
}

Setter on_off(bool Config::*field) {
    return [=](Config& c, const std::string& v) -> std::optional<std::string> {
        if (v != "on" && v != "off") return "must be on or off";
        c.*field = v == "on";
        return std::nullopt;
    };
}

std::vector<Option> options() {
    return {
        {"port", "PORT", "8080", "HTTP port (0: any free port)",
         [](Config& c, const std::string& v) -> std::optional<std::string> {
             const auto n = parse_int(v);
             if (!n || *n < 0 || *n > 65535) return "must be a port number from 0 to 65535";
             c.port = static_cast<std::uint16_t>(*n);
             return std::nullopt;
         }},
        {"bind", "JOBQ_BIND", "127.0.0.1", "address to listen on",
         [](Config& c, const std::string& v) -> std::optional<std::string> {
             if (v.empty()) return "must not be empty";
             c.bind = v;
             return std::nullopt;
         }},
        {"db", "JOBQ_DB", "./jobs.db",
         "SQLite database file, or a PostgreSQL URI (postgresql://user@host:port/db?...; libpq's PG* variables fill "
         "in the rest) for many nodes on one database",
         [](Config& c, const std::string& v) -> std::optional<std::string> {
             if (v.empty()) return "must not be empty";
             c.db = v;
             return std::nullopt;
         }},
        {"node-name", "JOBQ_NODE_NAME", "",
         "on PostgreSQL, this node's name, unique among the nodes and stable across its restarts (default: the "
         "host's name)",
         [](Config& c, const std::string& v) -> std::optional<std::string> {
             if (v.size() > 200) return "must be at most 200 characters";
             c.node_name = v;
             return std::nullopt;
         }},
        {"db-connections", "JOBQ_DB_CONNECTIONS", "4", "on PostgreSQL, connections each node keeps open at most",
         integer(&Config::db_connections, 2, 1'000)},
        {"heartbeat-ms", "JOBQ_HEARTBEAT_MS", "5000",
         "on PostgreSQL, between a node's signs of life; a node silent for 3 of them has its running jobs run "
         "again elsewhere",
         integer(&Config::heartbeat_ms, 100, 600'000)},
        {"workers", "WORKER_COUNT", "64", "jobs run at once", integer(&Config::workers, 1, 100'000)},
        {"threads", "JOBQ_THREADS", "0",
         "event-loop threads (0: one per hardware thread but the one left to the database thread)",
         integer(&Config::threads, 0, 1024)},
        {"visibility-timeout-ms", "JOBQ_VISIBILITY_TIMEOUT_MS", "300000",
         "lease on a running job; a run is cancelled a little before it ends",
         integer(&Config::visibility_timeout_ms, 1'000, 86'400'000)},
        {"shutdown-timeout-ms", "JOBQ_SHUTDOWN_TIMEOUT_MS", "30000",
         "on SIGTERM, how long running jobs may finish before they are requeued",
         integer(&Config::shutdown_timeout_ms, 0, 3'600'000)},
        {"retry-base-ms", "JOBQ_RETRY_BASE_MS", "1000", "backoff window of the first retry (doubles each retry)",
         integer(&Config::retry_base_ms, 0, 86'400'000)},
        {"retry-max-ms", "JOBQ_RETRY_MAX_MS", "3600000", "largest backoff window",
         integer(&Config::retry_max_ms, 0, 7 * 86'400'000LL)},
        {"max-body-bytes", "JOBQ_MAX_BODY_BYTES", "1048576", "largest request body accepted",
         integer(&Config::max_body_bytes, 1'024, 1LL << 30)},
        {"max-connections", "JOBQ_MAX_CONNECTIONS", "10000", "open connections; more get a 503 and are closed",
         integer(&Config::max_connections, 1, 1'000'000)},
        {"max-pending-writes", "JOBQ_MAX_PENDING_WRITES", "10000",
         "jobs waiting for a commit; a submission beyond it is answered 429 with Retry-After",
         integer(&Config::max_pending_writes, 1, 10'000'000)},
        {"header-timeout-ms", "JOBQ_HEADER_TIMEOUT_MS", "10000", "from a request's first byte to the end of its headers",
         integer(&Config::header_timeout_ms, 10, 3'600'000)},
        {"request-timeout-ms", "JOBQ_REQUEST_TIMEOUT_MS", "30000", "reading a whole request; writing a response",
         integer(&Config::request_timeout_ms, 10, 3'600'000)},
        {"idle-timeout-ms", "JOBQ_IDLE_TIMEOUT_MS", "60000", "a kept-alive connection waiting for its next request",
         integer(&Config::idle_timeout_ms, 10, 86'400'000)},
        {"max-db-mb", "JOBQ_MAX_DB_MB", "0", "largest database file; submissions get 503 at the limit (0: none)",
         integer(&Config::max_db_mb, 0, 16'000'000)},
        {"allowed-hosts", "JOBQ_ALLOWED_HOSTS", "",
         "on a loopback --bind, host names requests may name besides localhost and loopback addresses "
         "(comma-separated, as a proxy in front sends them; * for any)",
         text(&Config::allowed_hosts)},
        {"api-token", "JOBQ_API_TOKEN", "",
         "when set, every route but /healthz and /readyz needs Authorization: Bearer <token>",
         text(&Config::api_token)},
        {"worker-token", "JOBQ_WORKER_TOKEN", "",
         "when set, grants the lease routes (and GET /jobs/{id}) and nothing else; they then need a token",
         text(&Config::worker_token)},
        {"external-types", "JOBQ_EXTERNAL_TYPES", "",
         "job types run by workers outside jobq, leased over HTTP: names, prefix* or * (every name not built in)",
         text(&Config::external_types)},
        {"access-log", "JOBQ_ACCESS_LOG", "on", "one log line per request (at info level): on or off",
         on_off(&Config::access_log)},
        {"metrics", "JOBQ_METRICS", "on",
         "count runs, requests and commits for /metrics and /stats (off: those read 0): on or off",
         on_off(&Config::metrics)},
        {"smtp-host", "SMTP_HOST", "", "SMTP server for email jobs (none: email jobs wait, retried)",
         text(&Config::smtp_host)},
        {"smtp-port", "SMTP_PORT", "587", "SMTP port", integer(&Config::smtp_port, 1, 65535)},
        {"smtp-user", "SMTP_USER", "", "SMTP user (AUTH PLAIN or LOGIN, only over TLS)", text(&Config::smtp_user),
         "GMAIL_USER"},
        {"smtp-password", "SMTP_PASSWORD", "", "SMTP password; never logged", text(&Config::smtp_password),
         "GMAIL_APP_PASSWORD"},
        {"smtp-from", "SMTP_FROM", "(the SMTP user)", "From of every email, \"Name <address>\" or an address",
         text(&Config::smtp_from)},
        {"smtp-tls", "SMTP_TLS", "starttls (tls on port 465)", "starttls, tls (from the first byte) or none",
         [](Config& c, const std::string& v) -> std::optional<std::string> {
             if (v != "starttls" && v != "tls" && v != "none") return "must be starttls, tls or none";
             c.smtp_tls = v;
             return std::nullopt;
         }},
        {"smtp-ca-file", "SMTP_CA_FILE", "(the system's)", "PEM certificates to trust for the SMTP server",
         text(&Config::smtp_ca_file)},
        {"smtp-pool-size", "SMTP_POOL_SIZE", "8", "SMTP connections open at once",
         integer(&Config::smtp_pool_size, 1, 1'000)},
        {"smtp-max-messages-per-connection", "SMTP_MAX_MESSAGES_PER_CONNECTION", "100",
         "messages before a connection is replaced", integer(&Config::smtp_max_messages, 1, 1'000'000)},
        {"smtp-timeout-ms", "SMTP_TIMEOUT_MS", "30000", "each SMTP connect, handshake and reply",
         integer(&Config::smtp_timeout_ms, 100, 600'000)},
        {"smtp-rate-limit", "SMTP_RATE_LIMIT", "0", "emails per second at most (0: no limit); jobs wait, not fail",
         integer(&Config::smtp_rate_limit, 0, 1'000'000)},
        {"retention", "JOBQ_RETENTION", "7d", "done and cancelled jobs are deleted this long after they end",
         duration(&Config::retention_ms)},
        {"failed-retention", "JOBQ_FAILED_RETENTION", "30d", "failed jobs are deleted this long after they end",
         duration(&Config::failed_retention_ms)},
        {"retention-sweep-ms", "JOBQ_RETENTION_SWEEP_MS", "60000", "how often jobs past their retention are looked for",
         integer(&Config::retention_sweep_ms, 10, 86'400'000)},
        {"webhook-timeout-ms", "JOBQ_WEBHOOK_TIMEOUT_MS", "10000",
         "a whole webhook request: resolving, connecting, TLS, sending and the response",
         integer(&Config::webhook_timeout_ms, 100, 600'000)},
        {"ca-file", "JOBQ_CA_FILE", "(the system's)", "PEM certificates to trust for HTTPS webhooks",
         text(&Config::ca_file)},
        {"webhook-secret", "JOBQ_WEBHOOK_SECRET", "(none: unsigned)",
         "signs each webhook: X-Jobq-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, \"<t>.<body>\")>",
         text(&Config::webhook_secret)},
        {"webhook-deny", "JOBQ_WEBHOOK_DENY", "169.254.0.0/16,fe80::/10",
         "address ranges webhooks never connect to, checked on the resolved address (empty: none)",
         [](Config& c, const std::string& v) -> std::optional<std::string> {
             std::string problem;
             if (!net::parse_cidr_list(v, &problem)) return problem;
             c.webhook_deny = v;
             return std::nullopt;
         }},
        {"sync", "JOBQ_SYNC", "full", "full: 201 means on disk; normal: faster, may lose the last commits on power loss",
         [](Config& c, const std::string& v) -> std::optional<std::string> {
             if (v == "full") c.sync = storage::Synchronous::full;
             else if (v == "normal") c.sync = storage::Synchronous::normal;
             else return "must be full or normal";
             return std::nullopt;
         }},
        {"log-level", "JOBQ_LOG_LEVEL", "info", "debug, info, warn or error",
         [](Config& c, const std::string& v) -> std::optional<std::string> {
             const auto level = core::log::parse_level(v);
             if (!level) return "must be debug, info, warn or error";
             c.log_level = *level;
             return std::nullopt;
         }},
    };
}

std::string help_text(const std::vector<Option>& opts) {
    std::string text =
        "jobq: a persistent background job server\n\n"
        "usage: jobq [--option value | --option=value]...\n\n"
        "Precedence: flags > environment > .env in the working directory > defaults.\n\n";
    for (const auto& o : opts) {
        std::string left = "  --" + o.flag + " / " + o.env + (o.alias_env.empty() ? "" : " / " + o.alias_env);
        if (left.size() < 48) left.resize(48, ' ');
        text += left + " " + o.help + " (default: " + o.default_text + ")\n";
    }
    return text;
}

std::optional<ConfigError> apply(const Option& o, Config& config, const std::string& value, const std::string& source) {
    if (auto problem = o.set(config, value))
        return ConfigError{source + " has an invalid value '" + value + "': " + *problem};
    return std::nullopt;
}

std::string trim(const std::string& s) {
    const auto first = s.find_first_not_of(" \t\r");
    if (first == std::string::npos) return {};
    const auto last = s.find_last_not_of(" \t\r");
    return s.substr(first, last - first + 1);
}

}  // namespace

ConfigResult load_config(const std::vector<std::string>& args, const Environment& env,
                         const std::map<std::string, std::string>& dotenv) {
    const auto opts = options();
    Config config;

    for (const auto& o : opts) {
        std::optional<std::string> value;
        std::string source;
        for (const auto& name : {o.env, o.alias_env}) {
            if (name.empty() || value) continue;
            value = env(name);
            source = "environment variable " + name;
        }
        for (const auto& name : {o.env, o.alias_env}) {
            if (name.empty() || value) continue;
            if (const auto it = dotenv.find(name); it != dotenv.end()) {
                value = it->second;
                source = ".env entry " + name;
            }
        }
        if (value)
            if (auto error = apply(o, config, *value, source)) return *error;
    }

    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string& arg = args[i];
        if (arg == "--help" || arg == "-h") return ShowHelp{help_text(opts)};
        if (arg.rfind("--", 0) != 0) return ConfigError{"unexpected argument '" + arg + "' (see --help)"};
        std::string name = arg.substr(2);
        std::optional<std::string> value;
        if (const auto eq = name.find('='); eq != std::string::npos) {
            value = name.substr(eq + 1);
            name.resize(eq);
        }
        const auto it = std::find_if(opts.begin(), opts.end(), [&](const Option& o) { return o.flag == name; });
        if (it == opts.end()) return ConfigError{"unknown option --" + name + " (see --help)"};
        if (!value) {
            if (i + 1 >= args.size()) return ConfigError{"option --" + name + " needs a value"};
            value = args[++i];
        }
        if (auto error = apply(*it, config, *value, "option --" + name)) return *error;
    }
    return config;
}

std::map<std::string, std::string> read_dotenv(const std::string& path) {
    std::map<std::string, std::string> entries;
    std::ifstream in(path);
    std::string line;
    while (std::getline(in, line)) {
        line = trim(line);
        if (line.empty() || line[0] == '#') continue;
        if (line.rfind("export ", 0) == 0) line = trim(line.substr(7));
        const auto eq = line.find('=');
        if (eq == std::string::npos) continue;
        std::string key = trim(line.substr(0, eq));
        std::string value = trim(line.substr(eq + 1));
        if (value.size() >= 2 && (value.front() == '"' || value.front() == '\'') && value.back() == value.front())
            value = value.substr(1, value.size() - 2);
        entries[key] = value;
    }
    return entries;
}

Environment process_environment() {
    return [](const std::string& name) -> std::optional<std::string> {
        const char* value = std::getenv(name.c_str());
        if (!value) return std::nullopt;
        return std::string(value);
    };
}

}  // namespace jobq::app
