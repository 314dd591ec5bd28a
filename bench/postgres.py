"""The PostgreSQL rows of bench/run: jobq nodes on one PostgreSQL 15 cluster started for
the run (test/support/pg_cluster.py), beside the same measurement on SQLite in the same
invocation. Loopback only; PostgreSQL shares the machine's cores with jobq and wrk."""
import os
import subprocess
import threading
import time

CLUSTER_SCRIPT = os.path.join(os.path.dirname(__file__), "..", "test", "support", "pg_cluster.py")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class Cluster:
    """A throwaway cluster: `uri` of its `postgres` database; stopped and removed on exit."""

    def __init__(self):
        self.dir = f"/tmp/jobq-bench-pg-{os.getpid()}"
        uri_file = self.dir + ".uri"
        subprocess.run(["python3", CLUSTER_SCRIPT, "start", self.dir, uri_file], check=True,
                       stdout=subprocess.DEVNULL)
        with open(uri_file) as f:
            self.uri = f.readline().strip()
        os.remove(uri_file)

    def __enter__(self):
        return self

    def __exit__(self, *_):
        subprocess.run(["python3", CLUSTER_SCRIPT, "stop", self.dir], check=True, stdout=subprocess.DEVNULL)

    def database_uri(self, name):
        return self.uri[:self.uri.rindex("/") + 1] + name

    def create_database(self, name):
        self.psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        self.psql(f"CREATE DATABASE {name}")
        return self.database_uri(name)

    def psql(self, sql, database="postgres"):
        """The rows of `sql`, each a list of text values."""
        out = subprocess.run(["psql", "-qAt", "-F", "\t", "-v", "ON_ERROR_STOP=1", self.database_uri(database),
                              "-c", sql], check=True, capture_output=True, text=True).stdout
        return [line.split("\t") for line in out.splitlines() if line]

    def cpu_seconds(self):
        """CPU time every process of the cluster has used so far (the postmaster's children
        come and go with connections: counted while alive, so read around a run whose
        connections stay open)."""
        with open(os.path.join(self.dir, "data", "postmaster.pid")) as f:
            postmaster = int(f.readline())
        total = 0
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            pid, parent = int(entry), int(fields[1])
            if pid == postmaster or parent == postmaster:
                total += int(fields[11]) + int(fields[12])  # utime, stime
        return total / CLOCK_TICKS


# `:n` noop jobs due now, stored behind the server's back, with their counts (as node
# `bench`), in one transaction.
FILL = """
BEGIN;
INSERT INTO jobs (type, queue, priority, payload, state, max_retries, run_at, created_at, due)
SELECT 'noop', 'default', 0, '{{}}', 'queued', 3, {now}, {now}, true FROM generate_series(1, {n});
INSERT INTO job_counts (node, queue, type, state, n) VALUES ('bench', 'default', 'noop', 'queued', {n});
COMMIT;
"""


class PostgresRows:
    """Adds the `postgres` section's rows to bench/run's Bench (its jobq, wrk and rows),
    with run.py's Server, request and now_ms."""

    def __init__(self, bench, server, request, now_ms):
        self.bench = bench
        self.server = server
        self.request = request
        self.now_ms = now_ms

    def node(self, cluster, database, name, *args):
        argv = [self.bench.jobq, "--db", cluster.database_uri(database), "--node-name", name, "--port", "{port}",
                "--log-level", "warn", *args]
        return self.server(argv, os.path.join(self.bench.work, f"{database}-{name}.log"))

    def run(self):
        with Cluster() as cluster:
            self.enqueue(cluster)
            self.latency(cluster)
            self.drain(cluster)

    # -- enqueue: wrk -c64 on one node, and split over two -----------------------------
    def enqueue(self, cluster):
        b = self.bench
        name = "enqueue-sqlite"
        with b.jobq_server(name) as server:
            reference, secs, _, _ = b.wrk(server.port, 64)
        reference /= secs
        b.row("postgres", "SQLite POST /jobs, --sync full, -c64 (reference)", f"{reference:,.0f} req/s", "")
        for nodes in (1, 2):
            database = f"enqueue{nodes}"
            cluster.create_database(database)
            servers = [self.node(cluster, database, f"n{i}") for i in range(nodes)]
            try:
                cpu_before = cluster.cpu_seconds()
                results = self.wrk_split([s.port for s in servers], 64)
                cpu = cluster.cpu_seconds() - cpu_before
            finally:
                for s in servers:
                    s.stop()
            created = sum(r[0] for r in results)
            secs = max(r[1] for r in results)
            p99 = max(r[3] for r in results)
            stored = int(cluster.psql("SELECT count(*) FROM jobs", database)[0][0])
            if stored < created:
                raise RuntimeError(f"{database}: {created} acknowledged but {stored} stored")
            rate = created / secs
            target = "; target 15,000" if nodes == 1 else ""
            b.row("postgres", f"POST /jobs, synchronous_commit on, -c64, {nodes} node{'s' * (nodes > 1)}",
                  f"{rate:,.0f} req/s",
                  f"{rate / reference:.2f} of SQLite; p99 {p99:.2f} ms; PostgreSQL "
                  f"{cpu / max(1, stored) * 1e6:.0f} us CPU/job{target}")

    def wrk_split(self, ports, connections):
        """wrk on each port at once, the connections split between them."""
        results = [None] * len(ports)

        def one(i, port):
            results[i] = self.bench.wrk(port, connections // len(ports))

        threads = [threading.Thread(target=one, args=(i, p)) for i, p in enumerate(ports)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return results

    # -- idle latency: one job at a time -------------------------------------------------
    def latency(self, cluster, count=500):
        b = self.bench
        request = self.request
        for nodes in (1, 2):
            database = f"latency{nodes}"
            cluster.create_database(database)
            servers = [self.node(cluster, database, f"n{i}") for i in range(nodes)]
            try:
                ids = []
                for i in range(count):
                    status, body = request(servers[i % nodes].port, "POST", "/jobs", {"type": "noop", "payload": {}})
                    if status != 201:
                        raise RuntimeError(f"POST /jobs answered {status}")
                    ids.append(body["id"])
                    time.sleep(0.005)
                deadline = time.monotonic() + 30
                while request(servers[0].port, "GET", f"/jobs/{ids[-1]}")[1]["state"] != "done":
                    if time.monotonic() > deadline:
                        raise RuntimeError("the last job never ran")
                    time.sleep(0.05)
            finally:
                for s in servers:
                    s.stop()
            values = sorted(int(r[0]) for r in cluster.psql(
                "SELECT finished_at - created_at FROM jobs WHERE state = 'done'", database))
            mean = sum(values) / len(values)
            b.row("postgres", f"idle enqueue -> done, {len(values)} jobs, {nodes} node{'s' * (nodes > 1)}",
                  f"{mean:.2f} ms mean", f"p50 {values[len(values) // 2]} ms, p99 {values[len(values) * 99 // 100]} ms")

    # -- drain: a backlog run to the end -------------------------------------------------
    def drain(self, cluster):
        b = self.bench
        jobs = b.jobs
        for nodes in (1, 2):
            database = f"drain{nodes}"
            cluster.create_database(database)
            with self.node(cluster, database, "schema"):
                pass  # the schema, as this build makes it
            cluster.psql(FILL.format(now=self.now_ms(), n=jobs), database)
            cluster.psql("VACUUM ANALYZE jobs", database)
            cpu_before = cluster.cpu_seconds()
            servers = [self.node(cluster, database, f"n{i}") for i in range(nodes)]
            try:
                request = self.request
                deadline = time.monotonic() + 1800
                while True:
                    stats = request(servers[0].port, "GET", "/stats")[1]
                    if stats["jobs"]["done"] >= jobs:
                        break
                    if time.monotonic() > deadline:
                        raise RuntimeError("the backlog never drained")
                    time.sleep(0.25)
                cpu = cluster.cpu_seconds() - cpu_before
            finally:
                for s in servers:
                    s.stop()
            done, first, end = (int(v) for v in cluster.psql(
                "SELECT count(*), min(started_at), max(finished_at) FROM jobs WHERE state = 'done'", database)[0])
            if done != jobs:
                raise RuntimeError(f"{database}: {done} of {jobs} done")
            rate = done / ((end - first) / 1000)
            target = "; target 12,000" if nodes == 1 else ""
            b.row("postgres", f"{jobs:,}-job backlog drained, {nodes} node{'s' * (nodes > 1)}, 64 workers each",
                  f"{rate:,.0f} jobs/s",
                  f"first start -> last finish; PostgreSQL {cpu / done * 1e6:.0f} us CPU/job{target}")
