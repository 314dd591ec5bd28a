#include "net/smtp/session.hpp"

#include "net/base64.hpp"
#include "net/smtp/message_data.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <system_error>

namespace jobq::net::smtp {

namespace {

std::string upper(std::string_view text) {
    std::string out(text);
    std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::toupper(c); });
    return out;
}

// The words of an EHLO line: "AUTH PLAIN LOGIN" -> AUTH, PLAIN, LOGIN.
std::vector<std::string> words(std::string_view line) {
    std::vector<std::string> out;
    std::size_t i = 0;
    while (i < line.size()) {
        while (i < line.size() && line[i] == ' ') ++i;
        const std::size_t start = i;
        while (i < line.size() && line[i] != ' ') ++i;
        if (i > start) out.push_back(upper(line.substr(start, i - start)));
    }
    return out;
}

// "SIZE n": the largest message the server takes; 0 or no number says nothing. A limit
// larger than 64 bits can count is no limit this client can reach (it was parsed with
// arithmetic that wrapped, and a huge advertised size refused valid mail).
std::optional<std::uint64_t> parse_size_limit(std::string_view text) {
    std::uint64_t n = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
    if (ec != std::errc() || end != text.data() + text.size() || n == 0) return std::nullopt;
    return n;
}

}  // namespace

Capabilities parse_capabilities(const Reply& ehlo) {
    Capabilities caps;
    for (std::size_t i = 1; i < ehlo.lines.size(); ++i) {
        const auto w = words(ehlo.lines[i]);
        if (w.empty()) continue;
        if (w[0] == "STARTTLS") caps.starttls = true;
        else if (w[0] == "PIPELINING") caps.pipelining = true;
        else if (w[0] == "AUTH" || w[0] == "AUTH=PLAIN" || w[0] == "AUTH=LOGIN") {
            for (std::size_t j = 0; j < w.size(); ++j) {
                if (w[j] == "PLAIN" || w[j] == "AUTH=PLAIN") caps.auth_plain = true;
                if (w[j] == "LOGIN" || w[j] == "AUTH=LOGIN") caps.auth_login = true;
            }
        } else if (w[0] == "SIZE" && w.size() > 1) {
            caps.size_limit = parse_size_limit(w[1]);
        }
    }
    return caps;
}

Session::Session(SessionOptions options) : options_(std::move(options)) {
    encrypted_ = options_.tls == TlsMode::implicit;
}

Step Session::start() {
    state_ = State::greeting;
    return Step{Step::Kind::receive, {}, {}};
}

Step Session::expect(State state, std::string bytes) {
    state_ = state;
    return Step{Step::Kind::receive, std::move(bytes), {}};
}

Step Session::fail(bool permanent, std::string message, bool session_usable) {
    state_ = session_usable ? State::ready : State::failed;
    return Step{Step::Kind::failed, {}, Failure{permanent, std::move(message)}, session_usable};
}

Step Session::fail_on(const Reply& reply, std::string_view what, bool session_usable) {
    return fail(reply.permanent_failure(), std::string(what) + ": " + reply.text(), session_usable);
}

Step Session::on_reply(const Reply& reply) {
    // 421: the server is closing the channel, whatever was asked.
    if (reply.code == 421) return fail(false, "server closing the connection: " + reply.text());

    switch (state_) {
        case State::greeting:
            if (reply.code != 220) return fail_on(reply, "greeting refused", false);
            return expect(State::ehlo, "EHLO " + options_.client_name + "\r\n");

        case State::ehlo:
            if (reply.code == 250) {
                capabilities_ = parse_capabilities(reply);
                return after_hello();
            }
            // An old server without ESMTP: HELO, but then no STARTTLS can be had.
            if (reply.permanent_failure() && !tried_helo_) {
                tried_helo_ = true;
                return expect(State::helo, "HELO " + options_.client_name + "\r\n");
            }
            return fail_on(reply, "EHLO refused", false);

        case State::helo:
            if (reply.code != 250) return fail_on(reply, "HELO refused", false);
            capabilities_ = Capabilities{};
            return after_hello();

        case State::starttls:
            if (reply.code != 220) return fail(false, "STARTTLS refused, not continuing in plain text: " + reply.text());
            state_ = State::greeting;  // until tls_established()
            return Step{Step::Kind::start_tls, {}, {}};

        case State::auth_plain:
        case State::auth_login_done:
            if (reply.code != 235) return fail_on(reply, "authentication failed", false);
            state_ = State::ready;
            return Step{Step::Kind::ready, {}, {}};

        case State::auth_login_user:
            if (reply.code != 334) return fail_on(reply, "AUTH LOGIN refused", false);
            return expect(State::auth_login_password, net::base64(options_.credentials->user) + "\r\n");

        case State::auth_login_password:
            if (reply.code != 334) return fail_on(reply, "AUTH LOGIN refused the user name", false);
            return expect(State::auth_login_done, net::base64(options_.credentials->password) + "\r\n");

        case State::mail:
        case State::rcpt:
        case State::data:
            return transaction_reply(reply);

        case State::data_end:
            if (transaction_failure_) return report_transaction_failure();  // an empty message was ended
            if (reply.code != 250) return fail_on(reply, "message refused", true);
            ++messages_sent_;
            state_ = State::ready;
            return Step{Step::Kind::delivered, {}, {}};

        case State::rset:
        case State::noop:
            if (reply.code != 250) return fail_on(reply, state_ == State::rset ? "RSET refused" : "NOOP refused", false);
            state_ = State::ready;
            return Step{Step::Kind::ready, {}, {}};

        case State::quit:
            state_ = State::closed;
            return Step{Step::Kind::closed, {}, {}};

        case State::ready:
        case State::closed:
        case State::failed:
            break;
    }
    return fail(false, "unexpected reply: " + reply.text());
}

Step Session::after_hello() {
    if (options_.tls == TlsMode::starttls && !encrypted_) {
        if (!capabilities_.starttls)
            return fail(false, "the server does not offer STARTTLS; not sending anything in plain text");
        return expect(State::starttls, "STARTTLS\r\n");
    }
    return authenticate();
}

Step Session::tls_established() {
    encrypted_ = true;
    // RFC 3207: everything learned before the handshake is forgotten; greet again.
    capabilities_ = Capabilities{};
    return expect(State::ehlo, "EHLO " + options_.client_name + "\r\n");
}

Step Session::authenticate() {
    if (!options_.credentials) {
        state_ = State::ready;
        return Step{Step::Kind::ready, {}, {}};
    }
    if (!encrypted_) return fail(false, "not sending credentials over an unencrypted connection");
    const auto& c = *options_.credentials;
    if (capabilities_.auth_plain)
        return expect(State::auth_plain, "AUTH PLAIN " + net::base64(std::string(1, '\0') + c.user + '\0' + c.password) + "\r\n");
    if (capabilities_.auth_login) return expect(State::auth_login_user, "AUTH LOGIN\r\n");
    return fail(false, "the server offers neither AUTH PLAIN nor AUTH LOGIN");
}

Step Session::send_message(const Envelope& envelope) {
    if (state_ != State::ready) return fail(false, "a message was given to a session that is not ready");
    if (envelope.recipients.empty()) return fail(true, "a message needs at least one recipient", true);
    data_ = data_section(envelope.message);
    if (capabilities_.size_limit && data_.size() > *capabilities_.size_limit)
        return fail(true, "message of " + std::to_string(data_.size()) + " bytes exceeds the server's limit of " +
                              std::to_string(*capabilities_.size_limit),
                    true);

    transaction_failure_.reset();
    expected_.clear();
    std::string commands = "MAIL FROM:<" + envelope.from + ">";
    if (capabilities_.size_limit) commands += " SIZE=" + std::to_string(data_.size());
    commands += "\r\n";
    expected_.push_back(State::mail);
    // Without PIPELINING each command waits for its reply; with it, MAIL and every RCPT
    // go at once. DATA joins them only for a single recipient: if that RCPT fails, the
    // server must refuse DATA, so no message can go to part of the recipients.
    const bool pipelined = capabilities_.pipelining;
    data_pipelined_ = pipelined && envelope.recipients.size() == 1;
    std::string rcpts;
    for (const auto& r : envelope.recipients) {
        rcpts += "RCPT TO:<" + r + ">\r\n";
        expected_.push_back(State::rcpt);
    }
    if (!pipelined) {
        pending_commands_ = std::move(rcpts);
        return expect(State::mail, std::move(commands));
    }
    commands += rcpts;
    if (data_pipelined_) {
        commands += "DATA\r\n";
        expected_.push_back(State::data);
    }
    return expect(expected_.front(), std::move(commands));
}

Step Session::transaction_reply(const Reply& reply) {
    const State answered = expected_.front();
    expected_.erase(expected_.begin());
    if (answered == State::data && reply.code == 354 && !transaction_failure_) {
        // Dot-stuffed message, then the final reply.
        return expect(State::data_end, std::move(data_));
    }
    if (answered == State::data && reply.code == 354) {
        // Cannot happen with DATA pipelined only for one recipient (its RCPT failed, so
        // DATA must be refused); if a server accepts anyway, end an empty message rather
        // than send the real one.
        return expect(State::data_end, ".\r\n");
    }
    if (answered != State::data && reply.code != 250 && reply.code != 251 && !transaction_failure_)
        transaction_failure_ = Failure{reply.permanent_failure(),
                                       std::string(answered == State::mail ? "sender refused: " : "recipient refused: ") +
                                           reply.text()};
    if (answered == State::data && !transaction_failure_)
        transaction_failure_ = Failure{reply.permanent_failure(), "DATA refused: " + reply.text()};

    if (!expected_.empty()) {
        state_ = expected_.front();
        if (!capabilities_.pipelining && !transaction_failure_) {
            // One command per reply: the next RCPT.
            const auto end = pending_commands_.find("\r\n") + 2;
            std::string next = pending_commands_.substr(0, end);
            pending_commands_.erase(0, end);
            return expect(state_, std::move(next));
        }
        if (!capabilities_.pipelining) {
            expected_.clear();  // nothing more was sent
        } else {
            return Step{Step::Kind::receive, {}, {}};
        }
    }
    if (transaction_failure_) return report_transaction_failure();
    // Every RCPT accepted and DATA not yet sent.
    return begin_data();
}

Step Session::report_transaction_failure() {
    state_ = State::ready;  // the caller sends RSET before the next message
    auto failure = std::move(*transaction_failure_);
    transaction_failure_.reset();
    return Step{Step::Kind::failed, {}, std::move(failure), true};
}

Step Session::begin_data() {
    expected_.assign(1, State::data);
    return expect(State::data, "DATA\r\n");
}

Step Session::reset() {
    if (state_ != State::ready) return fail(false, "RSET on a session that is not ready");
    return expect(State::rset, "RSET\r\n");
}

Step Session::noop() {
    if (state_ != State::ready) return fail(false, "NOOP on a session that is not ready");
    return expect(State::noop, "NOOP\r\n");
}

Step Session::quit() { return expect(State::quit, "QUIT\r\n"); }

}  // namespace jobq::net::smtp
