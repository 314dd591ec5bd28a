#!/usr/bin/python3
"""A real SMTP server for tests (aiosmtpd): STARTTLS and AUTH required, on 127.0.0.1.

Every message received is written to OUT/<n>.json: {"mail_from", "rcpt_tos", "content",
"peer"} (peer: the client's port, one per connection). With --implicit-tls the server
speaks TLS from the first byte (as on port 465) instead of offering STARTTLS.
Prints "READY <port>" once it accepts connections, then serves until stdin closes.

    smtp_server.py --cert CERT --key KEY --out DIR [--user U --password P]
"""
import argparse
import json
import os
import socket
import ssl
import sys
import threading

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SaveMessages:
    def __init__(self, out):
        self.out = out
        self.count = 0
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.count += 1
            n = self.count
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "content": envelope.original_content.decode("utf-8", "replace"),
            "peer": session.peer[1],
        }
        path = os.path.join(self.out, f"{n}.json")
        with open(path + ".tmp", "w") as f:
            json.dump(record, f)
        os.rename(path + ".tmp", path)  # a reader never sees half a file
        return "250 OK"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--user", default="user")
    parser.add_argument("--password", default="pass")
    parser.add_argument("--implicit-tls", action="store_true")
    args = parser.parse_args()

    def authenticate(server, session, envelope, mechanism, auth_data):
        ok = (isinstance(auth_data, LoginPassword) and auth_data.login == args.user.encode()
              and auth_data.password == args.password.encode())
        return AuthResult(success=ok, handled=False)

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(args.cert, args.key)
    port = free_port()
    # aiosmtpd counts only STARTTLS as TLS for auth_require_tls; with implicit TLS every
    # byte is encrypted anyway.
    tls = ({"ssl_context": context, "auth_require_tls": False} if args.implicit_tls
           else {"tls_context": context, "require_starttls": True, "auth_require_tls": True})
    controller = Controller(SaveMessages(args.out), hostname="127.0.0.1", port=port, auth_required=True,
                            authenticator=authenticate, server_hostname="localhost", **tls)
    controller.start()
    print(f"READY {port}", flush=True)
    sys.stdin.read()  # until the test closes the pipe
    controller.stop()


if __name__ == "__main__":
    main()
