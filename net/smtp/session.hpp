#pragma once
// One SMTP client session as a state machine without I/O (RFC 5321, 3207 STARTTLS,
// 4954 AUTH, 2920 PIPELINING, 1870 SIZE). The connection code writes what a Step says,
// feeds the replies it reads back in, and runs the TLS handshake when told; everything
// the protocol decides is here, testable without sockets.
//
//   Session s(options);
//   Step step = s.start();                 // receive: the greeting
//   while connected:
//       send step.bytes if any; if step.kind == receive or send: step = s.on_reply(read reply)
//       start_tls: handshake, then step = s.tls_established()
//       ready: step = s.send_message(envelope) / s.reset() / s.noop() / s.quit()

#include "net/failure.hpp"
#include "net/smtp/reply.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace jobq::net::smtp {

enum class TlsMode {
    starttls,  // upgrade with STARTTLS; never continue in plain text
    implicit,  // TLS from the first byte (port 465): the caller handshakes before start()
    none,      // plain text (a local relay); no AUTH is sent in the clear
};

struct Credentials {
    std::string user;
    std::string password;
};

struct SessionOptions {
    std::string client_name = "localhost";  // the EHLO argument
    TlsMode tls = TlsMode::starttls;
    std::optional<Credentials> credentials;
};

struct Envelope {
    std::string from;
    std::vector<std::string> recipients;
    std::string message;  // the RFC 5322 message: headers, blank line, body
};

struct Step {
    enum class Kind {
        receive,    // read one reply (after writing `bytes`, if any)
        start_tls,  // run the TLS handshake, then call tls_established()
        ready,      // idle: send a message, reset, noop or quit
        delivered,  // the message was accepted; the session is ready for the next one
        failed,     // see `failure` and `session_usable`
        closed,     // QUIT answered
    };
    Kind kind = Kind::receive;
    std::string bytes;  // to write before reading (receive only)
    Failure failure;    // failed only: permanent on a 5xx, with the server's reply where there is one
    // failed only: the transaction failed but RSET makes the session ready again. A matter
    // for the connection that drives the session, not for whoever sent the message.
    bool session_usable = false;
};

struct Capabilities {
    bool starttls = false;
    bool pipelining = false;
    bool auth_plain = false;
    bool auth_login = false;
    std::optional<std::uint64_t> size_limit;  // SIZE n with n > 0
};

// What an EHLO reply offers (the first line is the server's greeting and skipped).
Capabilities parse_capabilities(const Reply& ehlo);

class Session {
public:
    explicit Session(SessionOptions options);

    Step start();
    Step on_reply(const Reply& reply);
    Step tls_established();

    // In the ready state only.
    Step send_message(const Envelope& envelope);
    Step reset();  // RSET: after a failed transaction, or before reusing a session
    Step noop();   // NOOP: is a pooled session still alive?
    Step quit();

    bool encrypted() const { return encrypted_; }
    std::uint64_t messages_sent() const { return messages_sent_; }

private:
    enum class State {
        greeting, ehlo, helo, starttls, auth_plain, auth_login_user, auth_login_password, auth_login_done,
        ready, mail, rcpt, data, data_end, rset, noop, quit, closed, failed,
    };

    Step after_hello();
    Step authenticate();
    Step expect(State state, std::string bytes);
    Step fail(bool permanent, std::string message, bool session_usable = false);
    Step fail_on(const Reply& reply, std::string_view what, bool session_usable);
    Step transaction_reply(const Reply& reply);
    Step report_transaction_failure();
    Step begin_data();

    SessionOptions options_;
    State state_ = State::greeting;
    Capabilities capabilities_;
    bool encrypted_ = false;
    bool tried_helo_ = false;

    // The transaction in flight.
    std::vector<State> expected_;  // replies still to come, in order (pipelined groups)
    std::string data_;              // the message's DATA section, sent on 354
    std::string pending_commands_;  // RCPTs not sent yet (without PIPELINING: one per reply)
    std::optional<Failure> transaction_failure_;  // first failure, reported once all replies are in
    bool data_pipelined_ = false;
    std::uint64_t messages_sent_ = 0;
};

}  // namespace jobq::net::smtp
