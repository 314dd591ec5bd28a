"""Instructions per job, counted by callgrind: a figure the neighbours cannot move.

For each server binary, under `valgrind --tool=callgrind`: noop jobs POSTed one by one
by 16 clients at once and run as they arrive (enqueue), then the same number drained
from a stored backlog (drain); prints the instructions each thread executed per job. Timings on a shared machine
swing by a third; instruction counts repeat to within a percent or two (batch sizes
still depend on timing), so two builds compare in one invocation without noise.
"""
import argparse
import concurrent.futures
import http.client
import json
import glob
import os
import sqlite3
import subprocess
import sys
import tempfile

from run import Bench, free_port, now_ms, request, wait_for

CLIENTS = 16


def thread_name(profile):
    """The role of the thread a callgrind output file describes."""
    with open(profile, errors="replace") as f:
        text = f.read()
    if "run_server" in text:  # the main thread (it also builds the database thread)
        return "event loop"
    if "ReadPool" in text:  # a read-only connection's thread
        return "readers"
    if "DbExecutor" in text:
        return "database"
    return "other"


def total_instructions(profile):
    with open(profile, errors="replace") as f:
        for line in f:
            if line.startswith("totals:") or line.startswith("summary:"):
                return int(line.split()[1])
    return 0


def all_done(db_path):
    try:
        with sqlite3.connect(db_path, timeout=1) as db:
            return db.execute("SELECT COUNT(*) FROM jobs WHERE state != 'done'").fetchone()[0] == 0
    except sqlite3.Error:
        return False  # the server holds the write lock this instant: ask again


def under_callgrind(bench, jobq, name, workload):
    """{thread role: instructions} of `jobq` serving database `name` while `workload(port)`
    runs, until every job is done."""
    out = os.path.join(bench.work, "callgrind.out")
    for old in glob.glob(out + "*"):
        os.remove(old)
    port = free_port()
    server = subprocess.Popen(["valgrind", "--tool=callgrind", "--separate-threads=yes", f"--callgrind-out-file={out}",
                               jobq, "--db", bench.db(name), "--port", str(port), "--log-level", "warn"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        workload(port)
        wait_for(lambda: all_done(bench.db(name)), timeout=1800, interval=1, what="every job to be done")
    finally:
        server.terminate()
        server.wait()
    counts = {}
    for profile in glob.glob(out + "-*"):
        role = thread_name(profile)
        counts[role] = counts.get(role, 0) + total_instructions(profile)
    return counts


def ready(port):
    try:
        return request(port, "GET", "/healthz")[0] == 200
    except OSError:
        return False


def post_jobs(port, count):
    """`count` noop jobs over one keep-alive connection, one at a time."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    body = json.dumps({"type": "noop", "payload": {}})
    try:
        for _ in range(count):
            connection.request("POST", "/jobs", body=body, headers={"Content-Type": "application/json"})
            answer = connection.getresponse()
            answer.read()
            if answer.status != 201:
                raise RuntimeError(f"POST /jobs answered {answer.status}")
    finally:
        connection.close()


def enqueue(bench, jobq):
    if os.path.exists(bench.db("enqueue")):
        os.remove(bench.db("enqueue"))

    def clients(port):
        wait_for(lambda: ready(port), timeout=120, what="the server to listen")
        with concurrent.futures.ThreadPoolExecutor(CLIENTS) as pool:
            shares = [bench.jobs // CLIENTS + (1 if i < bench.jobs % CLIENTS else 0) for i in range(CLIENTS)]
            for done in [pool.submit(post_jobs, port, share) for share in shares]:
                done.result()

    return under_callgrind(bench, jobq, "enqueue", clients)


def drain(bench, jobq):
    bench.copy_backlog("drain", ("UPDATE jobs SET run_at = ?", now_ms()))
    return under_callgrind(bench, jobq, "drain", lambda port: None)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("jobq", nargs="+", help="server binaries to compare")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="jobq-instructions-") as work:
        bench = Bench(os.path.abspath(args.jobq[0]), args.jobs, 0, work)
        bench.store_backlog()
        print(f"\ninstructions per job, {args.jobs:,} noop jobs\n")
        print("| server | run | event loop | database thread | readers | other | total |\n|---|---|---:|---:|---:|---:|---:|")
        for jobq in args.jobq:
            for run, measure in ((f"enqueue, {CLIENTS} clients", enqueue), ("drain", drain)):
                per_job = {role: value / args.jobs for role, value in measure(bench, os.path.abspath(jobq)).items()}
                print(f"| {jobq} | {run} | {per_job.get('event loop', 0):,.0f} | {per_job.get('database', 0):,.0f} | "
                      f"{per_job.get('readers', 0):,.0f} | {per_job.get('other', 0):,.0f} | {sum(per_job.values()):,.0f} |",
                      flush=True)


if __name__ == "__main__":
    sys.exit(main())
