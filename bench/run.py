"""The measurements of bench/run (see there and bench/README.md). Loopback only.

Every server gets its own database in a temporary directory. Figures come from what the
server stored (job timestamps, row counts), read after it stopped, so that nothing polls
the server's database while it works.
"""
import argparse
import contextlib
import functools
import json
import http.client
import os
import re
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time

from postgres import PostgresRows  # bench/postgres.py
from soak import MIB, post_batch, rss_bytes  # bench/soak.py

DAY_MS = 86_400_000
PROCESSING_AT_START = 10_000
SECTIONS = ("enqueue", "latency", "store", "ids", "startup", "drain", "reads", "dashboard", "worker", "postgres")
FAILED_PAGE = "/jobs?state=failed&limit=10"
QUEUED_PAGE = "/jobs?state=queued&limit=10"
DASHBOARD = ("/stats", "/metrics", FAILED_PAGE)
# `:rows` jobs, one a millisecond from `:past`: nine in ten done (one attempt), every tenth
# queued for `:later` (not due), none failed; one in four in queue `mail`.
FILL_JOBS = """
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :rows)
INSERT INTO jobs (type, queue, priority, payload, state, attempts, max_retries, run_at, created_at, started_at,
                  finished_at, due, attempt_base)
SELECT 'noop', CASE WHEN i % 4 = 0 THEN 'mail' ELSE 'default' END, 0, '{}',
       CASE WHEN i % 10 = 0 THEN 'queued' ELSE 'done' END, i % 10 != 0, 3,
       CASE WHEN i % 10 = 0 THEN :later ELSE :past + i END, :past + i,
       CASE WHEN i % 10 = 0 THEN NULL ELSE :past + i END,
       CASE WHEN i % 10 = 0 THEN NULL ELSE :past + i + 1 END,
       i % 10 != 0, 0
FROM n
"""
NGINX_CONF = """worker_processes 1;
daemon off;
pid {work}/nginx.pid;
error_log {work}/nginx.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {work}/nginx-body;
    server {{
        listen 127.0.0.1:{port};
        location / {{
            default_type application/json;
            return 201 '{{"id":1,"state":"queued"}}';
        }}
    }}
}}
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def now_ms():
    return int(time.time() * 1000)


def request(port, method, target, body=None, timeout=30):
    """(status, parsed JSON body); raises OSError when nothing listens."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        connection.request(method, target, body=json.dumps(body) if body is not None else None, headers=headers)
        answer = connection.getresponse()
        return answer.status, json.loads(answer.read() or b"null")
    finally:
        connection.close()


def recount(db):
    """The kept counts (schema v5's job_counts) made equal to the jobs again, after the
    harness changed jobs behind the server's back; a no-op for a build without them."""
    if db.execute("SELECT 1 FROM sqlite_schema WHERE name = 'job_counts'").fetchone():
        db.execute("DELETE FROM job_counts")
        db.execute("INSERT INTO job_counts (queue, type, state, count) "
                   "SELECT queue, type, state, COUNT(*) FROM jobs GROUP BY queue, type, state")


def get(connection, target):
    """(status, body bytes) of GET `target` on an http.client connection, whatever the body."""
    connection.request("GET", target)
    answer = connection.getresponse()
    return answer.status, answer.read()


def timed_gets(connection, target, check, count, limit):
    """Seconds each of up to `count` GETs of `target`, one after the other on `connection`,
    for at most `limit` seconds; every answer must be a 200 whose body `check` accepts."""
    times = []
    deadline = time.monotonic() + limit
    while len(times) < count and time.monotonic() < deadline:
        started = time.perf_counter()
        status, body = get(connection, target)
        times.append(time.perf_counter() - started)
        if status != 200:
            raise RuntimeError(f"GET {target} answered {status}")
        check(body)
    return times


def wait_for(condition, timeout, interval=0.05, what="condition"):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(interval)


class Server:
    """A jobq or nginx process on a free loopback port, stopped with SIGTERM on exit."""

    def __init__(self, argv, log_path, ready_target="/healthz", port=None, ready_status=200):
        self.port = port or free_port()
        self.log = open(log_path, "ab")
        self.started = time.monotonic()
        self.process = subprocess.Popen([a.replace("{port}", str(self.port)) for a in argv],
                                        stdout=self.log, stderr=self.log)
        try:
            self.ready_after = self.wait_ready(ready_target, ready_status)
        except BaseException:
            self.process.kill()
            self.process.wait()
            self.log.close()
            raise

    def wait_ready(self, target, status):
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.process.args[0]} exited with {self.process.returncode}")
            try:
                if request(self.port, "GET", target, timeout=5)[0] == status:
                    return time.monotonic() - self.started
            except OSError:
                pass
            time.sleep(0.002)
        raise RuntimeError(f"{self.process.args[0]} never answered {target}")

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=120)
        self.log.close()

    def __enter__(self):
        return self

    def __exit__(self, *_):
        self.stop()


class Background:
    """A thread that reads from the server while a `with` block runs: `run` until `stopped`
    is set (when the block ends) or `limit` seconds have passed. What it saw go wrong, in
    `failures`, fails the block."""

    def __init__(self, port, limit):
        self.port = port
        self.limit = limit
        self.failures = []
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, kind, *_):
        self.stopped.set()
        self.thread.join()
        if kind is None and self.failures:
            raise RuntimeError(f"{type(self).__name__}: {len(self.failures)} failures, first {self.failures[0]}")


class Poller(Background):
    """GETs each of `targets` once a second, each on a connection of its own; the time of
    every answer."""

    def __init__(self, port, targets, limit):
        super().__init__(port, limit)
        self.times = {target: [] for target in targets}

    def run(self):
        deadline = time.monotonic() + self.limit
        tick = time.monotonic()
        while not self.stopped.is_set() and time.monotonic() < deadline:
            for target, times in self.times.items():
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
                started = time.perf_counter()
                try:
                    status = get(connection, target)[0]
                except (OSError, http.client.HTTPException) as e:
                    status = repr(e)
                finally:
                    connection.close()
                times.append(time.perf_counter() - started)
                if status != 200:
                    self.failures.append(f"GET {target}: {status}")
            tick += 1
            self.stopped.wait(max(0.0, tick - time.monotonic()))

    def slowest(self):
        """(seconds, target) of the slowest answer."""
        return max(((t, target) for target, times in self.times.items() for t in times), default=(0.0, ""))

    def count(self):
        return sum(len(times) for times in self.times.values())


class OverviewWatcher(Background):
    """What the dashboard's overview does while it is open: loads /stats and the hour of
    /stats/history, then reads GET /events; counts the events read."""

    def __init__(self, port, limit):
        super().__init__(port, limit)
        self.events = 0

    def run(self):
        deadline = time.monotonic() + self.limit
        loads = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        stream = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            for target in ("/stats", "/stats/history?seconds=3600"):
                status = get(loads, target)[0]
                if status != 200:
                    raise RuntimeError(f"GET {target} answered {status}")
            stream.request("GET", "/events")
            answer = stream.getresponse()
            if answer.status != 200:
                raise RuntimeError(f"GET /events answered {answer.status}")
            while not self.stopped.is_set() and time.monotonic() < deadline:
                line = answer.fp.readline()
                if not line:
                    raise RuntimeError("GET /events ended while the server ran")
                if line.startswith(b"event: overview"):
                    self.events += 1
        except (OSError, http.client.HTTPException, RuntimeError) as e:
            self.failures.append(repr(e))
        finally:
            loads.close()
            stream.close()


class Bench:
    def __init__(self, jobq, jobs, seconds, work, lease_worker=None):
        self.jobq = jobq
        self.lease_worker = lease_worker
        self.jobs = jobs
        self.seconds = seconds
        self.work = work
        self.rows = []  # (section, run, figure, note)

    def row(self, section, run, figure, note=""):
        self.rows.append((section, run, figure, note))
        print(f"  {section:<9} {run:<52} {figure:>16}  {note}", flush=True)

    def jobq_server(self, name, *args, ready_target="/healthz"):
        argv = [self.jobq, "--db", self.db(name), "--port", "{port}", "--log-level", "warn", *args]
        return Server(argv, os.path.join(self.work, name + ".log"), ready_target)

    def db(self, name):
        return os.path.join(self.work, name + ".db")

    def create_schema(self, name):
        """A fresh database as this build creates it: the server started on it and stopped."""
        with self.jobq_server(name):
            pass

    def remove_database(self, name):
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                os.remove(self.db(name) + suffix)

    def wrk(self, port, connections):
        """(requests answered below 400, seconds, p50 ms, p99 ms) of wrk POSTing noop jobs."""
        out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{self.seconds}s", "-s", "bench/enqueue.lua",
                              f"http://127.0.0.1:{port}"], check=True, capture_output=True, text=True).stdout
        line = next(line for line in out.splitlines() if line.startswith("JOBQ "))
        v = dict(kv.split("=") for kv in line.split()[1:])
        return int(v["created"]), float(v["seconds"]), float(v["p50_ms"]), float(v["p99_ms"])

    # -- enqueue beside nginx, and the steady state of the first run --------------------
    def nginx(self):
        port = free_port()
        conf = os.path.join(self.work, "nginx.conf")
        with open(conf, "w") as f:
            f.write(NGINX_CONF.format(work=self.work, port=port))
        argv = ["/usr/sbin/nginx", "-c", conf, "-p", self.work, "-e", os.path.join(self.work, "nginx.log")]
        return Server(argv, os.path.join(self.work, "nginx.out"), "/", port, ready_status=201)

    def enqueue(self):
        for connections in (64, 256):
            with self.nginx() as nginx:
                floor, secs, p50, p99 = self.wrk(nginx.port, connections)
            floor /= secs
            self.row("enqueue", f"nginx, fixed 201, -c{connections}", f"{floor:,.0f} req/s",
                     f"p50 {p50:.2f} ms, p99 {p99:.2f} ms (the floor)")
            for sync in ("full", "normal"):
                name = f"enqueue-{sync}-{connections}"
                with self.jobq_server(name, "--sync", sync) as server:
                    started = now_ms()
                    created, secs, p50, p99 = self.wrk(server.port, connections)
                    ended = now_ms()
                stored, done_meanwhile = self.count_rows(name, started, ended)
                if stored < created:
                    raise RuntimeError(f"{name}: {created} acknowledged but {stored} stored")
                rate = created / secs
                target = "; target 0.50 of nginx" if sync == "full" else ""
                self.row("enqueue", f"jobq POST /jobs, --sync {sync}, -c{connections}", f"{rate:,.0f} req/s",
                         f"{rate / floor:.2f} of nginx; p50 {p50:.2f} ms, p99 {p99:.2f} ms{target}")
                if sync == "full" and connections == 64:
                    self.row("steady", "enqueue and run at once (that run)", f"{done_meanwhile / secs:,.0f} jobs/s",
                             f"done while {rate:,.0f}/s arrived")

    def count_rows(self, name, started, ended):
        with sqlite3.connect(self.db(name)) as db:
            stored = db.execute("SELECT COUNT(*) FROM jobs").fetchone()[0]
            done = db.execute("SELECT COUNT(*) FROM jobs WHERE state = 'done' AND finished_at BETWEEN ? AND ?",
                              (started, ended)).fetchone()[0]
        return stored, done

    # -- the backlog: stored once, copied for start-up and drain --------------------------
    def store_backlog(self):
        """`jobs` noop jobs due in a day, through POST /jobs/batch."""
        with self.jobq_server("backlog") as server:
            started = time.monotonic()
            for first in range(0, self.jobs, 1000):
                post_batch(server.port, [{"type": "noop", "payload": {}, "delay_ms": DAY_MS}
                                         for _ in range(first, min(self.jobs, first + 1000))])
            elapsed = time.monotonic() - started
        self.row("store", f"{self.jobs:,} jobs through POST /jobs/batch of 1,000", f"{self.jobs / elapsed:,.0f} jobs/s",
                 f"database {os.path.getsize(self.db('backlog')) / MIB:.0f} MiB")

    def copy_backlog(self, name, change, source="backlog"):
        shutil.copyfile(self.db(source), self.db(name))
        with sqlite3.connect(self.db(name)) as db:
            db.execute(change[0], change[1:])
            # Made due here, as jobs submitted for now are stored (schema v4's `due`); the
            # server would otherwise mark the whole backlog due in its first claim.
            if any(column[1] == "due" for column in db.execute("PRAGMA table_info(jobs)")):
                db.execute("UPDATE jobs SET due = run_at <= ? WHERE state = 'queued'", (now_ms(),))
            recount(db)

    def start_up(self):
        """exec -> /readyz 200 with the backlog, PROCESSING_AT_START of it left processing."""
        times, rss = [], 0
        for attempt in range(3):
            name = f"startup{attempt}"
            t = now_ms()
            self.copy_backlog(name, ("UPDATE jobs SET state = 'processing', attempts = 1, started_at = ?, "
                                     "lease_expires_at = ? WHERE id <= ?", t, t + 300_000, PROCESSING_AT_START))
            with self.jobq_server(name, ready_target="/readyz") as server:
                times.append(server.ready_after)
                time.sleep(1)  # settled: nothing is due
                rss = max(rss, rss_bytes(server.process.pid))
            with sqlite3.connect(self.db(name)) as db:
                left = db.execute("SELECT COUNT(*) FROM jobs WHERE state = 'processing'").fetchone()[0]
            if left:
                raise RuntimeError(f"{left} jobs still processing after recovery")
        processing = min(self.jobs, PROCESSING_AT_START)
        self.row("start-up", f"exec -> /readyz 200, {self.jobs:,} jobs, {processing:,} processing",
                 f"{statistics.median(times) * 1000:,.0f} ms",
                 f"median of 3 ({', '.join(f'{t * 1000:.0f}' for t in times)}); target < 1,000")
        self.row("memory", f"RSS holding the {self.jobs:,}-job backlog", f"{rss / MIB:.1f} MiB", "target < 64")

    def drain(self, levels=1, interleaved=False):
        """The whole backlog made due at once, run to the end with the default 64 workers;
        with `levels` > 1, spread over that many distinct priorities (the claim's cost must
        not grow with them): in blocks of consecutive ids, so claims still take rows stored
        side by side, or `interleaved` (id modulo levels), so each claimed job is on a page
        of its own and every claim and outcome writes that many more pages."""
        name = "drain" if levels == 1 else f"drain-{levels}-levels{'-interleaved' if interleaved else ''}"
        spread = "id % ?" if interleaved else f"(id - 1) * ? / {self.jobs}"
        self.copy_backlog(name, (f"UPDATE jobs SET run_at = ?, priority = {spread} - ? / 2", now_ms(), levels, levels))
        with sqlite3.connect(self.db(name)) as db:
            # Claims go in (priority DESC, run_at, id) order: this job is among the last run.
            last = db.execute("SELECT id FROM jobs ORDER BY priority, id DESC LIMIT 1").fetchone()[0]
        peak = 0
        with self.jobq_server(name) as server:
            def last_done():
                nonlocal peak
                peak = max(peak, rss_bytes(server.process.pid))
                return request(server.port, "GET", f"/jobs/{last}")[1]["state"] == "done"
            wait_for(last_done, timeout=1800, interval=0.25, what="the backlog to drain")
            time.sleep(0.5)  # the last claimed batch settles
        with sqlite3.connect(self.db(name)) as db:
            done, first, end = db.execute(
                "SELECT COUNT(*), MIN(started_at), MAX(finished_at) FROM jobs WHERE state = 'done'").fetchone()
        if done != self.jobs:
            raise RuntimeError(f"{name}: {done} of {self.jobs} done")
        rate = done / ((end - first) / 1000)
        if levels == 1:
            self.single_level_drain = rate
            self.row("drain", f"{self.jobs:,}-job noop backlog, --sync full, 64 workers", f"{rate:,.0f} jobs/s",
                     "first start -> last finish; target 100,000")
            self.row("memory", "peak RSS while draining", f"{peak / MIB:.1f} MiB", "sampled every 0.25 s")
        else:
            layout = "interleaved by id" if interleaved else "in blocks of ids"
            self.row("drain", f"the same over {levels:,} distinct priorities, {layout}", f"{rate:,.0f} jobs/s",
                     f"{rate / self.single_level_drain:.2f} of the single level")

    def drain_queues(self, queues=100, interleaved=False):
        """The backlog spread over `queues` queues of weights 1 to 5, made due at once and
        drained with the default 64 workers: every claim shares its free workers among the
        queues by weight, a seek per queue it takes from, where the single queue's claim is
        one range read. In blocks of consecutive ids (jobs of a queue stored together, as a
        batch stores them), or `interleaved` (id modulo queues), so that each job a claim
        takes from a queue is on a page of its own, as over interleaved priorities."""
        name = f"drain-{queues}-queues{'-interleaved' if interleaved else ''}"
        spread = "id % ?" if interleaved else f"(id - 1) * ? / {self.jobs}"
        self.copy_backlog(name, (f"UPDATE jobs SET run_at = ?, queue = 'q' || ({spread})", now_ms(), queues))
        with sqlite3.connect(self.db(name)) as db:
            db.executemany("INSERT INTO queues (name, paused, concurrency, rate_per_second, rate_burst, weight) "
                           "VALUES (?, 0, NULL, NULL, NULL, ?)", [(f"q{q}", 1 + q % 5) for q in range(queues)])
        with self.jobq_server(name) as server:
            def all_done():
                return request(server.port, "GET", "/stats")[1]["jobs"]["done"] == self.jobs
            wait_for(all_done, timeout=1800, interval=0.25, what="the backlog to drain")
        with sqlite3.connect(self.db(name)) as db:
            done, first, end = db.execute(
                "SELECT COUNT(*), MIN(started_at), MAX(finished_at) FROM jobs WHERE state = 'done'").fetchone()
        rate = done / ((end - first) / 1000)
        layout = "interleaved by id" if interleaved else "in blocks of ids"
        target = "" if interleaved else "; target >= 0.90"
        self.row("drain", f"the same over {queues} queues of weights 1 to 5, {layout}", f"{rate:,.0f} jobs/s",
                 f"{rate / self.single_level_drain:.2f} of the single queue{target}")

    def id_cost(self, rows=200_000, rounds=3):
        """What ids that are never reused cost an insert: the jobs table as jobq makes it,
        with AUTOINCREMENT and without (SQLite then reuses the highest id once deleted),
        filled alternately in one invocation; rows of the enqueue's shape, one per statement."""
        path = os.path.join(self.work, "ids.db")
        self.create_schema("ids-schema")
        with sqlite3.connect(self.db("ids-schema")) as db:  # the schema this build writes
            table_sql = db.execute("SELECT sql FROM sqlite_schema WHERE name = 'jobs'").fetchone()[0]
        insert = ("INSERT INTO {t} (type, queue, priority, payload, state, attempts, max_retries, run_at, created_at, "
                  "due) VALUES ('noop', 'default', 0, '{{}}', 'queued', 0, 3, ?, ?, 1)")
        times = {"AUTOINCREMENT": [], "plain": []}
        with sqlite3.connect(path, isolation_level=None) as db:
            db.execute("PRAGMA journal_mode=WAL")
            named = re.compile(r'CREATE TABLE "?jobs"?')  # SQLite quotes a name a RENAME gave
            db.execute(named.sub("CREATE TABLE with_autoincrement", table_sql, count=1))
            db.execute(named.sub("CREATE TABLE plain", table_sql, count=1).replace("PRIMARY KEY AUTOINCREMENT", "PRIMARY KEY"))
            for _ in range(rounds):
                for label, table in (("AUTOINCREMENT", "with_autoincrement"), ("plain", "plain")):
                    statement = insert.format(t=table)
                    started = time.perf_counter()
                    db.execute("BEGIN")
                    for i in range(rows):
                        db.execute(statement, (i, i))
                    db.execute("COMMIT")
                    times[label].append((time.perf_counter() - started) / rows)
        with_ai, plain = statistics.median(times["AUTOINCREMENT"]), statistics.median(times["plain"])
        self.row("ids", f"insert into jobs, {rows:,} rows x {rounds}, AUTOINCREMENT", f"{with_ai * 1e6:.2f} us/row",
                 f"{with_ai / plain:.2f} of the same table without it ({plain * 1e6:.2f} us/row)")

    def latency(self, count=1000):
        """Jobs submitted one at a time on an idle server; timestamps are milliseconds, so
        the mean (unbiased for truncated timestamps) is the precise figure."""
        with self.jobq_server("latency") as server:
            ids = []
            for _ in range(count):
                status, body = request(server.port, "POST", "/jobs", {"type": "noop", "payload": {}})
                if status != 201:
                    raise RuntimeError(f"POST /jobs answered {status}")
                ids.append(body["id"])
                time.sleep(0.005)  # idle between jobs: each runs alone
            wait_for(lambda: request(server.port, "GET", f"/jobs/{ids[-1]}")[1]["state"] == "done", 30)
        with sqlite3.connect(self.db("latency")) as db:
            times = db.execute("SELECT started_at - created_at, finished_at - created_at FROM jobs "
                               "WHERE state = 'done'").fetchall()
        for label, values in (("start", [t[0] for t in times]), ("done", [t[1] for t in times])):
            values.sort()
            p50, p99 = values[len(values) // 2], values[len(values) * 99 // 100]
            self.row("latency", f"idle enqueue -> {label}, {len(values):,} jobs", f"{statistics.mean(values):.2f} ms mean",
                     f"p50 {p50} ms, p99 {p99} ms (1 ms resolution)" + ("; target p50 < 1" if label == "done" else ""))

    # -- external workers: the lease protocol ------------------------------------------------
    def external_workers(self, jobs=200_000, processes=(1, 4)):
        """A backlog of `jobs` jobs drained by bench/lease_worker processes (lease max 100,
        all acked with one POST /leases/settle), beside the built-in workers draining the
        same number of noop jobs in the same invocation; then the idle latency from POST
        /jobs to the job delivered to a waiting long poll, beside the POST /jobs round
        trip alone."""
        for name, job_type in (("worker-ext", "bench.ext"), ("worker-noop", "noop")):
            with self.jobq_server(name, "--external-types", "bench.*") as server:
                for first in range(0, jobs, 1000):
                    post_batch(server.port, [{"type": job_type, "payload": {}, "delay_ms": DAY_MS}
                                             for _ in range(first, min(jobs, first + 1000))])
        make_due = ("UPDATE jobs SET run_at = ? WHERE state = 'queued'", now_ms())

        self.copy_backlog("drain-builtin", make_due, source="worker-noop")
        with self.jobq_server("drain-builtin") as server:
            wait_for(lambda: request(server.port, "GET", "/stats")[1]["jobs"]["done"] == jobs, timeout=600,
                     interval=0.25, what="the built-in workers to drain")
        builtin = self.drained_rate("drain-builtin", jobs)
        self.row("worker", f"{jobs:,} noop jobs, built-in workers (64), the reference", f"{builtin:,.0f} jobs/s",
                 "first start -> last finish")
        for count in processes:
            name = f"drain-external-{count}"
            self.copy_backlog(name, make_due, source="worker-ext")
            with self.jobq_server(name, "--external-types", "bench.*") as server:
                workers = [subprocess.Popen([self.lease_worker, "drain", str(server.port), "bench.ext", "100"],
                                            stdout=subprocess.PIPE, text=True) for _ in range(count)]
                outputs = [w.communicate(timeout=600)[0] for w in workers]
                if any(w.returncode != 0 for w in workers):
                    raise RuntimeError(f"{name}: a lease_worker failed: {outputs}")
            rate = self.drained_rate(name, jobs)
            self.row("worker", f"the same, external: {count} lease_worker process{'es' if count > 1 else ''}, "
                     "max 100, /leases/settle", f"{rate:,.0f} jobs/s",
                     f"{rate / builtin:.2f} of the built-in workers; target 50,000")

        with self.jobq_server("lease-latency", "--external-types", "bench.*") as server:
            out = subprocess.run([self.lease_worker, "latency", str(server.port), "bench.lat", "500"], check=True,
                                 capture_output=True, text=True, timeout=300).stdout
        v = dict(kv.split("=") for kv in out.split("JOBQ ")[1].split())
        delivered, enqueued = int(v["delivered_p50_us"]), int(v["enqueue_p50_us"])
        self.row("worker", "idle enqueue -> delivered to a waiting long poll, 500 jobs",
                 f"{delivered / 1000:.2f} ms p50",
                 f"p99 {int(v['delivered_p99_us']) / 1000:.2f} ms; {delivered / enqueued:.2f} of the POST /jobs "
                 f"round trip alone ({enqueued / 1000:.2f} ms p50); target p50 < 1")

    def drained_rate(self, name, jobs):
        """Jobs per second from the first start to the last finish, all `jobs` done."""
        with sqlite3.connect(self.db(name)) as db:
            done, first, end = db.execute(
                "SELECT COUNT(*), MIN(started_at), MAX(finished_at) FROM jobs WHERE state = 'done'").fetchone()
        if done != jobs:
            raise RuntimeError(f"{name}: {done} of {jobs} done")
        return done / ((end - first) / 1000)

    # -- reads beside the single writer: kept counts, read-only connections --------------
    def reads(self, sizes):
        """Enqueue on a database of the first of `sizes` jobs with and without a dashboard
        polling it, then the reads' latency on an idle server for each size; every
        database is written straight through sqlite3, and removed once its rows are done."""
        for index, rows in enumerate(sizes):
            name = f"reads-{rows}"
            counts = self.make_database(name, rows)
            if index == 0:
                self.writes_beside_reads(name, rows)
            self.read_latency(name, rows, counts)
            self.remove_database(name)

    def make_database(self, name, rows, section="reads"):
        """`rows` jobs (FILL_JOBS) written in one transaction into a database this build
        created, the kept counts rebuilt from them; the counts by state /stats must report."""
        self.create_schema(name)
        started = time.monotonic()
        with contextlib.closing(sqlite3.connect(self.db(name), isolation_level=None)) as db:
            # A rollback journal keeps only the pages the database had: the new ones are
            # written once, where WAL writes them twice (the log, then the checkpoint).
            db.execute("PRAGMA journal_mode=DELETE")
            db.execute("PRAGMA synchronous=OFF")
            db.execute("PRAGMA cache_size=-262144")
            db.execute("BEGIN")
            now = now_ms()
            db.execute(FILL_JOBS, {"rows": rows, "past": now - rows - 1000, "later": now + DAY_MS})
            recount(db)
            db.execute("COMMIT")
            db.execute("PRAGMA journal_mode=WAL")
        elapsed = time.monotonic() - started
        self.row(section, f"build a {rows:,}-job database", f"{elapsed:,.1f} s",
                 f"{rows / elapsed:,.0f} rows/s through sqlite3; {os.path.getsize(self.db(name)) / MIB:,.0f} MiB; "
                 "90% done, 10% queued for a day, none failed")
        queued = rows // 10
        return {"queued": queued, "processing": 0, "done": rows - queued, "failed": 0, "cancelled": 0}

    def check_and_remove(self, name, rows, created):
        """Fails the harness when the copy `name` of a `rows`-job database stored fewer new
        jobs than were acknowledged; then removes it."""
        with contextlib.closing(sqlite3.connect(self.db(name))) as db:
            stored = db.execute("SELECT COUNT(*) FROM jobs").fetchone()[0] - rows
        if stored < created:
            raise RuntimeError(f"{name}: {created} acknowledged but {stored} stored")
        self.remove_database(name)

    def writes_beside_reads(self, source, rows, rounds=2):
        """wrk enqueue -c32 on fresh copies of the `rows`-job database, alone and with a
        dashboard's reads (DASHBOARD, each once a second), alternately, `rounds` of each
        (the machine is noisy); the medians of each kind. Each run fails the harness if
        fewer rows were stored than acknowledged."""
        runs = {"alone": [], "polled": []}
        slowest, polls = (0.0, ""), 0
        for run in range(2 * rounds):
            kind = "polled" if run % 2 else "alone"
            name = f"reads-enqueue{run}"
            shutil.copyfile(self.db(source), self.db(name))
            with self.jobq_server(name) as server:
                poller = Poller(server.port, DASHBOARD, self.seconds + 5) if kind == "polled" else None
                with poller or contextlib.nullcontext():
                    created, secs, _, p99 = self.wrk(server.port, 32)
            self.check_and_remove(name, rows, created)
            runs[kind].append((created / secs, p99))
            if poller:
                slowest, polls = max(slowest, poller.slowest()), polls + poller.count()
        alone, alone_p99 = (statistics.median(r[i] for r in runs["alone"]) for i in (0, 1))
        polled, polled_p99 = (statistics.median(r[i] for r in runs["polled"]) for i in (0, 1))
        self.row("reads", f"enqueue -c32 on a {rows:,}-job db, alone", f"{alone:,.0f} req/s",
                 f"p99 {alone_p99:.2f} ms; median of {rounds} ({', '.join(f'{r[0]:,.0f}' for r in runs['alone'])})")
        self.row("reads", "the same with /stats, /metrics, /jobs?state=failed&limit=10 each every second",
                 f"{polled:,.0f} req/s",
                 f"{polled / alone:.2f} of alone (target >= 0.95); p99 {polled_p99:.2f} ms, "
                 f"{polled_p99 / alone_p99:.2f} x alone (target <= 1.5); median of {rounds} "
                 f"({', '.join(f'{r[0]:,.0f}' for r in runs['polled'])}); "
                 f"slowest of {polls:,} reads {slowest[0] * 1000:.1f} ms (GET {slowest[1]})")

    def read_latency(self, name, rows, counts, count=200, limit=120):
        """GET /stats, GET FAILED_PAGE and GET QUEUED_PAGE, `count` times each (for at most `limit` seconds),
        one after the other over one kept-alive connection (its set-up is not timed), on an
        idle server holding the `rows`-job database; /stats must report `counts`, and the
        listing find nothing."""
        def reports_counts(body):
            reported = json.loads(body)["jobs"]
            if reported != counts:
                raise RuntimeError(f"/stats reported {reported}, {counts} stored")

        def finds_nothing(body):
            found = json.loads(body)["jobs"]
            if found != []:
                raise RuntimeError(f"GET {FAILED_PAGE} found {len(found)} jobs, none failed")

        def finds_ten_queued(body):
            found = json.loads(body)["jobs"]
            if len(found) != 10 or any(job["state"] != "queued" for job in found):
                raise RuntimeError(f"GET {QUEUED_PAGE} found {len(found)} jobs, not ten queued ones")

        with self.jobq_server(name) as server:
            connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
            try:
                # The failed page is answered from the kept counts (none failed); the queued
                # page reads the state's index, among the done jobs that are most of the table.
                for target, check, target_ms in (("/stats", reports_counts, 1), (FAILED_PAGE, finds_nothing, 10),
                                                 (QUEUED_PAGE, finds_ten_queued, 10)):
                    times = sorted(timed_gets(connection, target, check, count, limit))
                    short = "" if len(times) == count else f"; only {len(times)} answered in {limit} s"
                    self.row("reads", f"GET {target}, {rows:,}-job db", f"{statistics.median(times) * 1000:.3f} ms median",
                             f"p99 {times[len(times) * 99 // 100] * 1000:.3f} ms; target < {target_ms} ms{short}")
            finally:
                connection.close()


    # -- the dashboard: its overview beside enqueue, and every call it makes -------------
    def dashboard(self, rows=1_000_000, rounds=3):
        name = "dashboard"
        self.make_database(name, rows, section="dashboard")
        self.enqueue_beside_overview(name, rows, rounds)
        self.dashboard_calls(name, rows)
        self.remove_database(name)

    def enqueue_beside_overview(self, source, rows, rounds):
        """wrk enqueue -c64 on fresh copies of the `rows`-job database, alone and with the
        overview open (OverviewWatcher), alternately, `rounds` of each; the medians."""
        runs = {"alone": [], "watched": []}
        events = 0
        for run in range(2 * rounds):
            kind = "watched" if run % 2 else "alone"
            name = f"dashboard-enqueue{run}"
            shutil.copyfile(self.db(source), self.db(name))
            with self.jobq_server(name) as server:
                watcher = OverviewWatcher(server.port, self.seconds + 30) if kind == "watched" else None
                with watcher or contextlib.nullcontext():
                    created, secs, _, p99 = self.wrk(server.port, 64)
                if watcher:
                    events += watcher.events
                    if watcher.events < self.seconds - 1:
                        raise RuntimeError(f"{name}: the overview read {watcher.events} events in {self.seconds} s")
            self.check_and_remove(name, rows, created)
            runs[kind].append((created / secs, p99))
        alone, alone_p99 = (statistics.median(r[i] for r in runs["alone"]) for i in (0, 1))
        watched, watched_p99 = (statistics.median(r[i] for r in runs["watched"]) for i in (0, 1))
        self.row("dashboard", f"enqueue -c64 on a {rows:,}-job db, alone", f"{alone:,.0f} req/s",
                 f"p99 {alone_p99:.2f} ms; median of {rounds} ({', '.join(f'{r[0]:,.0f}' for r in runs['alone'])}; "
                 f"p99 {', '.join(f'{r[1]:.2f}' for r in runs['alone'])})")
        self.row("dashboard", "the same with the overview open (/stats, an hour of history, GET /events)",
                 f"{watched:,.0f} req/s",
                 f"{watched / alone:.2f} of alone, p99 {watched_p99:.2f} ms = {watched_p99 / alone_p99:.2f} x alone "
                 f"(targets >= 0.95, <= 1.05); median of {rounds} "
                 f"({', '.join(f'{r[0]:,.0f}' for r in runs['watched'])}; "
                 f"p99 {', '.join(f'{r[1]:.2f}' for r in runs['watched'])}); {events} events read")

    def dashboard_calls(self, name, rows, count=50, limit=60):
        """Every call the dashboard's views make, `count` times each over one kept-alive
        connection, on an idle server holding the `rows`-job database (with a schedule and
        an external worker's lease); GET /events is timed to its first event, on a
        connection of its own each time."""
        with self.jobq_server(name, "--external-types", "bench.*") as server:
            port = server.port
            request(port, "PUT", "/schedules/nightly", {"cron": "0 3 * * *", "job": {"type": "noop", "payload": {}}})
            request(port, "POST", "/jobs", {"type": "bench.ext", "payload": {}})
            request(port, "POST", "/leases", {"types": ["bench.ext"], "worker": "bench-worker"})
            deep = rows // 2
            calls = [("GET", "/ui/"), ("GET", "/ui/dashboard.js"), ("GET", "/ui/chart.min.js"),
                     ("GET", "/stats"), ("GET", "/stats/history?seconds=3600"), ("GET", "/queues"),
                     ("GET", "/jobs?limit=50"), ("GET", "/jobs?state=done&limit=50"),
                     ("GET", "/jobs?state=failed&limit=50"), ("GET", "/jobs?state=queued&limit=50"),
                     ("GET", "/jobs?queue=mail&limit=50"), ("GET", f"/jobs?queue=mail&state=done&limit=50&cursor={deep}"),
                     ("GET", "/jobs/10"), ("GET", "/jobs/10/attempts"), ("GET", "/schedules"), ("GET", "/workers"),
                     ("POST", "/queues/mail/pause"), ("POST", "/queues/mail/resume"), ("POST", "/queues/mail/retry-failed"),
                     ("POST", "/schedules/nightly/trigger")]
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            try:
                for method, target in calls:
                    times = []
                    deadline = time.monotonic() + limit
                    while len(times) < count and time.monotonic() < deadline:
                        started = time.perf_counter()
                        connection.request(method, target)
                        answer = connection.getresponse()
                        answer.read()
                        times.append(time.perf_counter() - started)
                        if answer.status not in (200, 201):
                            raise RuntimeError(f"{method} {target} answered {answer.status}")
                    self.call_row(f"{method} {target}", rows, times, count, limit)
            finally:
                connection.close()
            times = []
            for _ in range(10):
                # Past OverviewFeed's reuse window: each stream computes its first event.
                time.sleep(1.0)
                stream = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                started = time.perf_counter()
                stream.request("GET", "/events")
                answer = stream.getresponse()
                if answer.status != 200:
                    raise RuntimeError(f"GET /events answered {answer.status}")
                while True:
                    line = answer.fp.readline()
                    if not line:
                        raise RuntimeError("GET /events ended before its first event")
                    if line.startswith(b"data: "):
                        break
                times.append(time.perf_counter() - started)
                stream.close()
            self.call_row("GET /events, to its first event", rows, times, 10, limit)

    def call_row(self, call, rows, times, count, limit):
        times.sort()
        short = "" if len(times) == count else f"; only {len(times)} answered in {limit} s"
        self.row("dashboard", f"{call}, {rows:,}-job db", f"{statistics.median(times) * 1000:.3f} ms median",
                 f"p99 {times[len(times) * 99 // 100] * 1000:.3f} ms, slowest {times[-1] * 1000:.3f} ms; "
                 f"target < 50 ms{short}")


def section_names(text):
    """--only: the sections named, in the table's order, with `store` when start-up or
    drain (which run on its backlog) is among them."""
    names = {name.strip() for name in text.split(",") if name.strip()}
    unknown = names - set(SECTIONS)
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"sections are among {', '.join(SECTIONS)}")
    if names & {"startup", "drain"}:
        names.add("store")
    return [name for name in SECTIONS if name in names]


def read_sizes(text):
    """--read-jobs: positive job counts, comma-separated."""
    try:
        values = [int(value) for value in text.split(",")]
    except ValueError:
        values = []
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError("a comma-separated list of positive job counts")
    return values


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobq", required=True)
    parser.add_argument("--jobs", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--only", type=section_names, default=",".join(SECTIONS),
                        help=f"comma-separated sections among {', '.join(SECTIONS)} (default: all)")
    parser.add_argument("--lease-worker", help="bench/lease_worker, for the worker section")
    parser.add_argument("--read-jobs", type=read_sizes, default="1000000,10000000",
                        help="database sizes of the reads rows; enqueue beside reads on the first (default: %(default)s)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="jobq-bench-") as work:
        lease_worker = os.path.abspath(args.lease_worker) if args.lease_worker else None
        if "worker" in args.only and not lease_worker:
            parser.error("the worker section needs --lease-worker")
        bench = Bench(os.path.abspath(args.jobq), args.jobs, args.seconds, work, lease_worker)
        steps = {
            "enqueue": [bench.enqueue],
            "latency": [bench.latency],
            "store": [bench.store_backlog],
            "ids": [bench.id_cost],
            "startup": [bench.start_up],
            "drain": [bench.drain, bench.drain_queues, functools.partial(bench.drain_queues, interleaved=True),
                      functools.partial(bench.drain, levels=1000),
                      functools.partial(bench.drain, levels=1000, interleaved=True)],
            "reads": [functools.partial(bench.reads, args.read_jobs)],
            "dashboard": [bench.dashboard],
            "worker": [bench.external_workers],
            "postgres": [PostgresRows(bench, Server, request, now_ms).run],
        }
        print(f"bench/run: {os.cpu_count()} cores, {args.jobs:,} jobs, wrk -t2 for {args.seconds} s per row; "
              f"{', '.join(args.only)}")
        for section in args.only:
            for step in steps[section]:
                step()
        print()
        print(f"| section | run | figure | note |\n|---|---|---:|---|")
        for section, run, figure, note in bench.rows:
            print(f"| {section} | {run} | {figure} | {note} |")


if __name__ == "__main__":
    sys.exit(main())
