#include "net/tls_context.hpp"

namespace jobq::net {

namespace ssl = boost::asio::ssl;

ssl::context make_tls_context(const std::string& ca_file) {
    ssl::context context(ssl::context::tls_client);
    context.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                        ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
    context.set_verify_mode(ssl::verify_peer);
    if (ca_file.empty()) context.set_default_verify_paths();
    else context.load_verify_file(ca_file);
    return context;
}

}  // namespace jobq::net
