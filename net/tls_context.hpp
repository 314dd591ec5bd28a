#pragma once
// The TLS settings every outgoing connection (SMTP, webhooks) uses.

#include <boost/asio/ssl/context.hpp>

#include <string>

namespace jobq::net {

// A client context that verifies the peer's certificate chain against `ca_file` (PEM), or
// the system's store when it is empty; TLS 1.2 and later. The host name is checked per
// connection (ssl::host_name_verification). Throws when `ca_file` cannot be loaded.
boost::asio::ssl::context make_tls_context(const std::string& ca_file);

}  // namespace jobq::net
