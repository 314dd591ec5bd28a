#!/usr/bin/python3
"""A scripted SMTP peer that misbehaves on purpose, for fault tests (plain text, 127.0.0.1).
Faults a real server cannot be asked to produce; the real peer is aiosmtpd.

Every command received is appended to LOG, one per line. Prints "READY <port>", then
serves until stdin closes.

    smtp_fault_server.py --mode MODE --log LOG [--faulty N]
MODE: rcpt451 | rcpt550 | drop_in_data | silent | no_starttls | silent_after_data | silent_to_noop | ok
--faulty N: only the first N connections misbehave; later ones are served as in mode ok.
"""
import argparse
import socket
import sys
import threading


def serve(conn, mode, log, lock):
    def say(line):
        conn.sendall(line.encode() + b"\r\n")

    def record(line):
        with lock:
            with open(log, "a") as f:
                f.write(line + "\n")

    reader = conn.makefile("rb")
    if mode in ("silent", "silent_after_data", "silent_to_noop"):
        record("CONNECTION " + mode)
    if mode == "silent":
        reader.read()  # never greets; waits for the client to give up
        return
    say("220 fault.test ESMTP")
    in_data = False
    for raw in reader:
        line = raw.decode("utf-8", "replace").rstrip("\r\n")
        if in_data:
            if mode == "drop_in_data":
                record("DROPPED")
                conn.shutdown(socket.SHUT_RDWR)
                return
            if line == ".":
                in_data = False
                if mode == "silent_after_data":
                    reader.read()  # never answers the message
                    return
                say("250 queued")
            continue
        record(line)
        verb = line.split(" ")[0].upper()
        if verb in ("EHLO", "HELO"):
            say("250-fault.test")
            say("250 PIPELINING" if mode != "no_starttls" else "250 AUTH PLAIN")
        elif verb == "MAIL":
            say("250 ok")
        elif verb == "RCPT":
            say({"rcpt451": "451 4.3.0 try again later", "rcpt550": "550 5.1.1 no such user"}.get(mode, "250 ok"))
        elif verb == "DATA":
            if mode in ("rcpt451", "rcpt550"):
                say("554 no valid recipients")
            else:
                say("354 go ahead")
                in_data = True
        elif verb == "NOOP" and mode == "silent_to_noop":
            reader.read()  # never answers the probe
            return
        elif verb in ("RSET", "NOOP"):
            say("250 ok")
        elif verb == "QUIT":
            say("221 bye")
            return
        else:
            say("502 not implemented")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", required=True)
    parser.add_argument("--log", required=True)
    parser.add_argument("--faulty", type=int, default=-1, help="connections that misbehave (default: all)")
    args = parser.parse_args()
    accepted = [0]
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    lock = threading.Lock()

    def accept_loop():
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            accepted[0] += 1
            mode = args.mode if args.faulty < 0 or accepted[0] <= args.faulty else "ok"
            threading.Thread(target=lambda c=conn, m=mode: (serve(c, m, args.log, lock), c.close()),
                             daemon=True).start()

    threading.Thread(target=accept_loop, daemon=True).start()
    print(f"READY {listener.getsockname()[1]}", flush=True)
    sys.stdin.read()
    listener.close()


if __name__ == "__main__":
    main()
