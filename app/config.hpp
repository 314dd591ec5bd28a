#pragma once
// Configuration, by precedence: command-line flags > environment > `.env` in the working
// directory > defaults. Every option has a flag and an environment variable.

#include "core/log.hpp"
#include "storage/sqlite/sqlite.hpp"

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace jobq::app {

struct Config {
    std::uint16_t port = 8080;
    std::string bind = "127.0.0.1";
    std::string db = "./jobs.db";    // a file (SQLite) or a postgresql:// URI
    std::string node_name;           // on PostgreSQL, this node's; empty: the host's name
    std::int64_t db_connections = 4;  // on PostgreSQL, the pool's size
    std::int64_t heartbeat_ms = 5'000;  // on PostgreSQL, between a node's signs of life
    std::int64_t workers = 64;
    std::int64_t threads = 0;  // 0: hardware threads - 1, at least 1
    std::int64_t visibility_timeout_ms = 300'000;
    std::int64_t shutdown_timeout_ms = 30'000;
    std::int64_t retry_base_ms = 1'000;
    std::int64_t retry_max_ms = 3'600'000;
    std::int64_t max_body_bytes = 1 << 20;
    std::int64_t max_connections = 10'000;
    std::int64_t max_pending_writes = 10'000;  // jobs waiting for a commit; more get 429
    std::int64_t header_timeout_ms = 10'000;    // from a request's first byte to its last header
    std::int64_t request_timeout_ms = 30'000;   // a whole request, body included, and each response write
    std::int64_t idle_timeout_ms = 60'000;      // a kept-alive connection with no request
    std::int64_t max_db_mb = 0;                 // 0: no limit
    std::string allowed_hosts;                  // names a loopback server also answers to; "*": any
    std::string api_token;                      // empty: no authentication
    std::string worker_token;                   // grants the lease routes only; empty: none
    std::string external_types;                 // "a,b,prefix*" or "*"; parsed at start-up
    bool access_log = true;
    bool metrics = true;
    // Email (SMTP). No host: email jobs are retried until one is configured.
    std::string smtp_host;
    std::int64_t smtp_port = 587;
    std::string smtp_user;      // also read from GMAIL_USER
    std::string smtp_password;  // also read from GMAIL_APP_PASSWORD; never logged
    std::string smtp_from;      // empty: the user
    std::string smtp_tls;       // starttls | tls | none; empty: tls on port 465, else starttls
    std::string smtp_ca_file;
    std::int64_t smtp_pool_size = 8;
    std::int64_t smtp_max_messages = 100;
    std::int64_t smtp_timeout_ms = 30'000;
    std::int64_t smtp_rate_limit = 0;
    // Retention of finished jobs; 0: kept forever.
    std::int64_t retention_ms = 7 * 86'400'000LL;          // done and cancelled
    std::int64_t failed_retention_ms = 30 * 86'400'000LL;  // failed
    std::int64_t retention_sweep_ms = 60'000;
    // Webhooks (HTTP and HTTPS).
    std::int64_t webhook_timeout_ms = 10'000;
    std::string ca_file;         // PEM certificates trusted for HTTPS webhooks; empty: the system's
    std::string webhook_secret;  // empty: requests are not signed; never logged
    std::string webhook_deny = "169.254.0.0/16,fe80::/10";  // CIDR ranges never connected to
    storage::Synchronous sync = storage::Synchronous::full;
    core::log::Level log_level = core::log::Level::info;
};

struct ShowHelp {
    std::string text;
};
struct ConfigError {
    std::string message;  // names the option and the value
};
using ConfigResult = std::variant<Config, ShowHelp, ConfigError>;

using Environment = std::function<std::optional<std::string>(const std::string& name)>;

// `dotenv` holds the entries of the .env file (empty when there is none).
ConfigResult load_config(const std::vector<std::string>& args, const Environment& env,
                         const std::map<std::string, std::string>& dotenv);

// KEY=VALUE lines; blank lines and # comments skipped; optional "export "; values may be
// quoted with ' or ". A missing file gives an empty map.
std::map<std::string, std::string> read_dotenv(const std::string& path);

Environment process_environment();

}  // namespace jobq::app
