#pragma once
// Self-signed certificates made for a test with the system's openssl.

#include "child_process.hpp"

#include <string>

namespace jobq::test {

// A certificate for localhost and 127.0.0.1, valid for a day.
inline bool make_certificate(const std::string& cert, const std::string& key) {
    return run_command({"/usr/bin/openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                        "-nodes", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                        "-days", "1", "-keyout", key, "-out", cert});
}

}  // namespace jobq::test
