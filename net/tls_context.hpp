#pragma once
// The TLS settings every outgoing connection (SMTP, webhooks) uses.

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>

#include <string>

namespace jobq::net {

// A client context that verifies the peer's certificate chain against `ca_file` (PEM), or
// the system's store when it is empty; TLS 1.2 and later. The host name is checked per
// connection (ssl::host_name_verification). Throws when `ca_file` cannot be loaded.
boost::asio::ssl::context make_tls_context(const std::string& ca_file);

// Before a client handshake on `stream` (any Asio or Beast SSL stream): SNI for a name (not
// for an address literal), and the certificate must name `host`. False when OpenSSL
// refuses the name.
template <class SslStream>
bool expect_server(SslStream& stream, const std::string& host) {
    boost::system::error_code not_an_address;
    boost::asio::ip::make_address(host, not_an_address);
    if (not_an_address && !SSL_set_tlsext_host_name(stream.native_handle(), host.c_str())) return false;
    stream.set_verify_callback(boost::asio::ssl::host_name_verification(host));
    return true;
}

}  // namespace jobq::net
