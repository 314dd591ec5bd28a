#!/usr/bin/env python3
"""A throwaway PostgreSQL 15 cluster for the tests and benchmarks.

    pg_cluster.py start DIR URI_FILE   initdb in DIR, start it on a free loopback port and a
                                       unix socket in DIR; write its URI to URI_FILE
    pg_cluster.py restart DIR          a fast restart of the cluster in DIR (sessions end, nothing
                                       committed is lost), as an operator's
    pg_cluster.py halt DIR             stop the cluster in DIR (fast), keeping its data
    pg_cluster.py resume DIR           start the halted cluster in DIR again, on its port
    pg_cluster.py stop DIR             stop the cluster in DIR (fast) and remove DIR

PostgreSQL refuses to run as root: when root starts it, DIR belongs to the `postgres`
user and every server command runs as that user. The cluster trusts local connections
(it listens on 127.0.0.1 and its socket only), and keeps fsync on: crash tests rely on
what PostgreSQL promises, not on the operating system's cache.
"""

import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
import time

SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "max_connections": "300",
    "shared_buffers": "256MB",
    "max_wal_size": "2GB",
    # Tests restart it with -m fast; a checkpoint spread over minutes is of no use here.
    "checkpoint_timeout": "5min",
    "logging_collector": "off",
    "log_min_messages": "warning",
    "log_connections": "off",
    "log_disconnections": "off",
}


def bin_dir():
    """The newest PostgreSQL 15+ server binaries Debian installed."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if not found:
        sys.exit("pg_cluster: no PostgreSQL server installed (scripts/setup installs postgresql)")
    return os.path.dirname(found[-1])


def as_server_user(argv, **kwargs):
    """Runs a server command as `postgres` when we are root, as ourselves otherwise."""
    if os.geteuid() == 0:
        argv = ["runuser", "-u", "postgres", "--"] + argv
    return subprocess.run(argv, check=True, **kwargs)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop(directory):
    data = os.path.join(directory, "data")
    if os.path.exists(os.path.join(data, "postmaster.pid")):
        try:
            as_server_user([os.path.join(bin_dir(), "pg_ctl"), "-D", data, "-m", "fast", "-w", "-t", "60", "stop"],
                           stdout=subprocess.DEVNULL)
        except subprocess.CalledProcessError:
            # Not running after all (a stale pid file): nothing to stop.
            pass
    shutil.rmtree(directory, ignore_errors=True)


def start(directory, uri_file):
    stop(directory)  # a cluster left behind by an interrupted run
    os.makedirs(directory)
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        os.chown(directory, user.pw_uid, user.pw_gid)
    data = os.path.join(directory, "data")
    binaries = bin_dir()
    as_server_user([os.path.join(binaries, "initdb"), "-D", data, "-U", "postgres", "--auth=trust",
                    "--encoding=UTF8", "--locale=C.UTF-8"], stdout=subprocess.DEVNULL)
    port = free_port()
    with open(os.path.join(data, "postgresql.conf"), "a") as conf:
        for name, value in SETTINGS.items():
            conf.write(f"{name} = {value}\n")
        conf.write(f"port = {port}\n")
        conf.write(f"unix_socket_directories = '{directory}'\n")
    if os.geteuid() == 0:
        subprocess.run(["chown", "postgres:postgres", os.path.join(data, "postgresql.conf")], check=True)
    log = os.path.join(directory, "server.log")
    as_server_user([os.path.join(binaries, "pg_ctl"), "-D", data, "-l", log, "-w", "-t", "60", "start"],
                   stdout=subprocess.DEVNULL)
    uri = f"postgresql://postgres@127.0.0.1:{port}/postgres"
    wait_until_accepting(binaries, port)
    with open(uri_file, "w") as out:
        out.write(uri + "\n")
    print(f"pg_cluster: {uri} (data in {data})")


def pg_ctl(directory, *command):
    data = os.path.join(directory, "data")
    log = os.path.join(directory, "server.log")
    as_server_user([os.path.join(bin_dir(), "pg_ctl"), "-D", data, "-l", log, "-m", "fast", "-w", "-t", "60",
                    *command], stdout=subprocess.DEVNULL)


def wait_until_accepting(binaries, port):
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready = subprocess.run([os.path.join(binaries, "pg_isready"), "-h", "127.0.0.1", "-p", str(port)],
                               stdout=subprocess.DEVNULL)
        if ready.returncode == 0:
            return
        time.sleep(0.1)
    sys.exit("pg_cluster: the server did not accept connections within 60 s")


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "start":
        start(os.path.abspath(sys.argv[2]), sys.argv[3])
    elif len(sys.argv) == 3 and sys.argv[1] in ("restart", "resume", "halt"):
        command = {"restart": "restart", "resume": "start", "halt": "stop"}[sys.argv[1]]
        pg_ctl(os.path.abspath(sys.argv[2]), command)
    elif len(sys.argv) == 3 and sys.argv[1] == "stop":
        stop(os.path.abspath(sys.argv[2]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
