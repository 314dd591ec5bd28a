// The email and webhook handlers make their connection pools, and the TLS contexts with the
// CA files, when they are made (at start-up), not on the event loop at their first job.

#include "handlers/email.hpp"
#include "handlers/webhook.hpp"

#include "temp_dir.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/test/unit_test.hpp>

#include <fstream>

using namespace jobq;

namespace {

handlers::EmailSettings email_settings(std::string ca_file) {
    handlers::EmailSettings settings;
    settings.server.host = "127.0.0.1";
    settings.server.port = 2525;
    settings.server.ca_file = std::move(ca_file);
    settings.from = "noreply@jobq.test";
    return settings;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(handler_startup)

// Regression: the pool and the client loaded their CA files when first used, on the
// event loop, so a CA file that cannot be read surfaced as every job's last_error.
BOOST_AUTO_TEST_CASE(an_unreadable_ca_file_fails_when_the_handler_is_made) {
    test::TempDir dir;
    const auto missing = dir.file("missing.pem");
    boost::asio::io_context io;
    BOOST_CHECK_THROW(handlers::EmailHandler(email_settings(missing), io.get_executor()), std::exception);
    handlers::WebhookSettings webhook;
    webhook.client.ca_file = missing;
    BOOST_CHECK_THROW(handlers::WebhookHandler(webhook, io.get_executor()), std::exception);
}

BOOST_AUTO_TEST_CASE(the_system_store_loads_at_once) {
    boost::asio::io_context io;
    BOOST_CHECK_NO_THROW(handlers::EmailHandler(email_settings(""), io.get_executor()));
    BOOST_CHECK_NO_THROW(handlers::WebhookHandler(handlers::WebhookSettings{}, io.get_executor()));
    BOOST_CHECK_NO_THROW(handlers::EmailHandler(std::nullopt, io.get_executor()));  // SMTP not configured
}

BOOST_AUTO_TEST_SUITE_END()
