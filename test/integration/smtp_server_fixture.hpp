#pragma once
// A real SMTP server (aiosmtpd, test/support/smtp_server.py) requiring STARTTLS and AUTH,
// with a self-signed certificate made for the test; what it receives is readable here.

#include "certificate.hpp"
#include "child_process.hpp"
#include "temp_dir.hpp"

#include "net/smtp/client.hpp"

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>
#include <string>

namespace jobq::test {

struct SmtpServer {
    TempDir dir;
    std::string cert = dir.file("cert.pem");
    std::string out = dir.file("received");
    std::unique_ptr<ChildProcess> process;
    std::uint16_t port = 0;

    explicit SmtpServer(bool implicit_tls = false) {
        std::filesystem::create_directory(out);
        BOOST_TEST_REQUIRE(make_certificate(cert, dir.file("key.pem")));
        std::vector<std::string> argv{"/usr/bin/python3",
                                      std::string(JOBQ_SOURCE_DIR) + "/test/support/smtp_server.py",
                                      "--cert", cert, "--key", dir.file("key.pem"), "--out", out,
                                      "--user", "mailer", "--password", "s3cret"};
        if (implicit_tls) argv.push_back("--implicit-tls");
        process = std::make_unique<ChildProcess>(std::move(argv));
        const auto ready = process->read_line(std::chrono::seconds(20));
        BOOST_TEST_REQUIRE((ready && ready->starts_with("READY ")), "the SMTP server did not start");
        port = static_cast<std::uint16_t>(std::stoi(ready->substr(6)));
    }

    // Distinct client connections among the messages received.
    std::size_t connections() const {
        std::set<std::int64_t> peers;
        for (std::size_t n = 1; n <= received(); ++n) peers.insert(message(static_cast<int>(n)).at("peer").as_int64());
        return peers.size();
    }

    net::smtp::ServerOptions options(std::string password = "s3cret") const {
        net::smtp::ServerOptions o;
        o.host = "127.0.0.1";
        o.port = port;
        o.tls = net::smtp::TlsMode::starttls;
        o.credentials = net::smtp::Credentials{"mailer", std::move(password)};
        o.ca_file = cert;
        o.client_name = "jobq.test";
        o.timeout = std::chrono::seconds(10);
        return o;
    }

    std::size_t received() const {
        std::size_t n = 0;
        for (const auto& entry : std::filesystem::directory_iterator(out)) n += entry.path().extension() == ".json";
        return n;
    }

    boost::json::object message(int n) const {
        std::ifstream in(out + "/" + std::to_string(n) + ".json");
        std::stringstream text;
        text << in.rdbuf();
        return boost::json::parse(text.str()).as_object();
    }
};

}  // namespace jobq::test
