#include "app/config.hpp"

#include "temp_dir.hpp"

#include <boost/test/unit_test.hpp>

#include <fstream>

using namespace jobq::app;

namespace {

Environment env_of(std::map<std::string, std::string> vars) {
    return [vars](const std::string& name) -> std::optional<std::string> {
        const auto it = vars.find(name);
        if (it == vars.end()) return std::nullopt;
        return it->second;
    };
}

Config config_of(const ConfigResult& r) {
    BOOST_TEST_REQUIRE(std::holds_alternative<Config>(r));
    return std::get<Config>(r);
}

std::string error_of(const ConfigResult& r) {
    BOOST_TEST_REQUIRE(std::holds_alternative<ConfigError>(r));
    return std::get<ConfigError>(r).message;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(config)

BOOST_AUTO_TEST_CASE(defaults) {
    const Config c = config_of(load_config({}, env_of({}), {}));
    BOOST_TEST(c.port == 8080);
    BOOST_TEST(c.bind == "127.0.0.1");
    BOOST_TEST(c.db == "./jobs.db");
    BOOST_TEST(c.workers == 64);
    BOOST_TEST(c.visibility_timeout_ms == 300'000);
    BOOST_TEST(c.shutdown_timeout_ms == 30'000);
    BOOST_TEST((c.sync == jobq::storage::Synchronous::full));
}

BOOST_AUTO_TEST_CASE(http_and_operability_options) {
    const Config d = config_of(load_config({}, env_of({}), {}));
    BOOST_TEST(d.api_token.empty());
    BOOST_TEST(d.access_log);
    BOOST_TEST(d.metrics);
    BOOST_TEST(d.max_db_mb == 0);
    BOOST_TEST(d.max_connections == 10'000);
    BOOST_TEST(d.header_timeout_ms == 10'000);
    const Config c = config_of(load_config({"--access-log", "off", "--max-pending-writes", "5", "--idle-timeout-ms=100"},
                                           env_of({{"JOBQ_API_TOKEN", "t0ken"}, {"JOBQ_METRICS", "off"}}), {}));
    BOOST_TEST(c.api_token == "t0ken");
    BOOST_TEST(!c.access_log);
    BOOST_TEST(!c.metrics);
    BOOST_TEST(c.max_pending_writes == 5);
    BOOST_TEST(c.idle_timeout_ms == 100);
    BOOST_TEST(error_of(load_config({"--access-log", "yes"}, env_of({}), {})).find("--access-log") != std::string::npos);
    BOOST_TEST(error_of(load_config({"--max-connections", "0"}, env_of({}), {})).find("--max-connections") !=
               std::string::npos);
}

BOOST_AUTO_TEST_CASE(smtp_options_and_the_original_gmail_names) {
    const Config seed = config_of(load_config({}, env_of({{"SMTP_HOST", "smtp.gmail.com"}, {"GMAIL_USER", "me@gmail.com"},
                                                          {"GMAIL_APP_PASSWORD", "app-pass"}}),
                                              {}));
    BOOST_TEST(seed.smtp_host == "smtp.gmail.com");
    BOOST_TEST(seed.smtp_port == 587);
    BOOST_TEST(seed.smtp_user == "me@gmail.com");
    BOOST_TEST(seed.smtp_password == "app-pass");
    BOOST_TEST(seed.smtp_pool_size == 8);
    // The current names win over the original ones, in the environment and in .env.
    const Config both = config_of(load_config({}, env_of({{"SMTP_USER", "new@x.io"}, {"GMAIL_USER", "old@x.io"}}),
                                              {{"GMAIL_APP_PASSWORD", "from-dotenv"}}));
    BOOST_TEST(both.smtp_user == "new@x.io");
    BOOST_TEST(both.smtp_password == "from-dotenv");
    BOOST_TEST(error_of(load_config({"--smtp-tls", "ssl"}, env_of({}), {})).find("--smtp-tls") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(webhook_options) {
    const Config d = config_of(load_config({}, env_of({}), {}));
    BOOST_TEST(d.webhook_timeout_ms == 10'000);
    BOOST_TEST(d.webhook_deny == "169.254.0.0/16,fe80::/10");
    BOOST_TEST(d.webhook_secret.empty());
    const Config c = config_of(load_config({"--webhook-deny", ""}, env_of({{"JOBQ_WEBHOOK_SECRET", "whsec"},
                                                                           {"JOBQ_CA_FILE", "/etc/ca.pem"}}),
                                           {}));
    BOOST_TEST(c.webhook_deny.empty());
    BOOST_TEST(c.webhook_secret == "whsec");
    BOOST_TEST(c.ca_file == "/etc/ca.pem");
    const auto bad_range = error_of(load_config({}, env_of({{"JOBQ_WEBHOOK_DENY", "10.0.0.0/8,10.0.0.0/33"}}), {}));
    BOOST_TEST(bad_range.find("JOBQ_WEBHOOK_DENY") != std::string::npos, bad_range);
    BOOST_TEST(bad_range.find("10.0.0.0/33") != std::string::npos, bad_range);
    BOOST_TEST(error_of(load_config({"--webhook-timeout-ms", "0"}, env_of({}), {})).find("--webhook-timeout-ms") !=
               std::string::npos);
}

BOOST_AUTO_TEST_CASE(retention_durations) {
    const Config d = config_of(load_config({}, env_of({}), {}));
    BOOST_TEST(d.retention_ms == 7 * 86'400'000LL);
    BOOST_TEST(d.failed_retention_ms == 30 * 86'400'000LL);
    const std::pair<const char*, std::int64_t> cases[] = {{"7d", 7 * 86'400'000LL}, {"12h", 12 * 3'600'000LL},
                                                          {"30m", 1'800'000},       {"45s", 45'000},
                                                          {"250ms", 250},           {"1500", 1'500},
                                                          {"0", 0},                 {"off", 0}};
    for (const auto& [text, ms] : cases)
        BOOST_TEST(config_of(load_config({"--retention", text}, env_of({}), {})).retention_ms == ms, text);
    BOOST_TEST(config_of(load_config({}, env_of({{"JOBQ_FAILED_RETENTION", "90d"}}), {})).failed_retention_ms ==
               90 * 86'400'000LL);
    for (const char* bad : {"", "d", "-1d", "7w", "1.5h", "7 d", "99999999999999999d"})
        BOOST_TEST(error_of(load_config({"--retention", bad}, env_of({}), {})).find("--retention") != std::string::npos,
                   bad);
}

BOOST_AUTO_TEST_CASE(flags_beat_environment_beats_dotenv) {
    const std::map<std::string, std::string> dotenv = {{"PORT", "1111"}, {"WORKER_COUNT", "11"}, {"JOBQ_DB", "d.db"}};
    const auto env = env_of({{"PORT", "2222"}, {"WORKER_COUNT", "22"}});
    const Config c = config_of(load_config({"--port", "3333"}, env, dotenv));
    BOOST_TEST(c.port == 3333);    // flag
    BOOST_TEST(c.workers == 22);   // environment
    BOOST_TEST(c.db == "d.db");    // .env
    BOOST_TEST(c.bind == "127.0.0.1");  // default
}

BOOST_AUTO_TEST_CASE(flag_forms) {
    const Config c = config_of(load_config({"--sync=normal", "--workers", "5", "--log-level=debug"}, env_of({}), {}));
    BOOST_TEST((c.sync == jobq::storage::Synchronous::normal));
    BOOST_TEST(c.workers == 5);
    BOOST_TEST((c.log_level == jobq::core::log::Level::debug));
}

BOOST_AUTO_TEST_CASE(invalid_values_name_their_option) {
    BOOST_TEST(error_of(load_config({"--port", "99999"}, env_of({}), {})).find("--port") != std::string::npos);
    BOOST_TEST(error_of(load_config({"--workers=0"}, env_of({}), {})).find("--workers") != std::string::npos);
    BOOST_TEST(error_of(load_config({"--sync", "sometimes"}, env_of({}), {})).find("--sync") != std::string::npos);
    BOOST_TEST(error_of(load_config({}, env_of({{"WORKER_COUNT", "many"}}), {})).find("WORKER_COUNT") !=
               std::string::npos);
    BOOST_TEST(error_of(load_config({"--nope"}, env_of({}), {})).find("--nope") != std::string::npos);
    BOOST_TEST(error_of(load_config({"--port"}, env_of({}), {})).find("--port") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(help_lists_every_option_with_its_default) {
    const auto r = load_config({"--help"}, env_of({}), {});
    BOOST_TEST_REQUIRE(std::holds_alternative<ShowHelp>(r));
    const auto& text = std::get<ShowHelp>(r).text;
    for (const char* s : {"--port", "PORT", "--bind", "--db", "--workers", "WORKER_COUNT", "--visibility-timeout-ms",
                          "--shutdown-timeout-ms", "--sync", "--log-level", "300000", "30000"})
        BOOST_TEST(text.find(s) != std::string::npos, s);
}

BOOST_AUTO_TEST_CASE(dotenv_file_syntax) {
    jobq::test::TempDir dir;
    std::ofstream(dir.file(".env")) << "# comment\n\nPORT=9000\nexport JOBQ_DB = \"my jobs.db\"\nJOBQ_SYNC='normal'\nbroken line\n";
    const auto entries = read_dotenv(dir.file(".env"));
    BOOST_TEST(entries.at("PORT") == "9000");
    BOOST_TEST(entries.at("JOBQ_DB") == "my jobs.db");
    BOOST_TEST(entries.at("JOBQ_SYNC") == "normal");
    BOOST_TEST(entries.size() == 3u);
    BOOST_TEST(read_dotenv(dir.file("missing")).empty());
}

BOOST_AUTO_TEST_SUITE_END()
