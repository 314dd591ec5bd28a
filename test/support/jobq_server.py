"""A real build/jobq for the Python tests (the browser's and the integration ones): on a
free loopback port, with its own database in a temporary directory, the external type
`ext`, and quick retries. Every wait is on a condition with a deadline.

With JOBQ_TEST_STORE=postgres the database is a schema of its own on the test cluster
(test/support/pg_cluster.py; its URI in JOBQ_TEST_POSTGRES or the file
JOBQ_TEST_POSTGRES_URI_FILE names), made with psql and dropped on close()."""

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

WAIT_S = 20


def parsed(body, headers):
    """A JSON body parsed; anything else (an asset, nothing) as None."""
    if not body or not (headers.get("Content-Type") or "").startswith("application/json"):
        return None
    return json.loads(body)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(condition, what, timeout=WAIT_S):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def postgres_uri():
    uri = os.environ.get("JOBQ_TEST_POSTGRES")
    if uri:
        return uri
    with open(os.environ["JOBQ_TEST_POSTGRES_URI_FILE"]) as f:
        return f.readline().strip()


def psql(sql):
    subprocess.run(["psql", "-q", "-v", "ON_ERROR_STOP=1", postgres_uri(), "-c", sql], check=True,
                   stdout=subprocess.DEVNULL)


class Database:
    """Where a Server stores: a file in `directory`, or a schema on the test cluster."""

    def __init__(self, directory):
        self.schema = None
        if os.environ.get("JOBQ_TEST_STORE") == "postgres":
            self.schema = f"py_{os.getpid()}_{os.path.basename(directory).replace('-', '_')}"
            psql(f"CREATE SCHEMA {self.schema}")
            uri = postgres_uri()
            separator = "&" if "?" in uri else "?"
            self.argument = f"{uri}{separator}options=" + urllib.parse.quote(f"-csearch_path={self.schema}")
        else:
            self.argument = os.path.join(directory, "jobs.db")

    def drop(self):
        if self.schema:
            psql(f"DROP SCHEMA {self.schema} CASCADE")


class Server:
    """build/jobq on a free loopback port with its own database; stopped on close()."""

    def __init__(self, jobq, *extra):
        self.dir = tempfile.mkdtemp(prefix="jobq-py-")
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.token = None
        self.database = Database(self.dir)
        args = [jobq, "--db", self.database.argument, "--port", str(self.port),
                "--external-types", "ext", "--retry-base-ms", "100", *extra]
        self.log = open(os.path.join(self.dir, "server.log"), "wb")
        self.process = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT)
        wait_until(self._healthy, "the server to answer /healthz")

    def _healthy(self):
        try:
            return self.call("GET", "/healthz")[0] == 200
        except OSError:
            return False

    def call(self, method, path, body=None, token=None, headers=None):
        """(status, parsed JSON body or None, headers)."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method, headers=headers or {})
        if body is not None:
            request.add_header("Content-Type", "application/json")
        token = token or self.token
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, parsed(response.read(), response.headers), response.headers
        except urllib.error.HTTPError as e:
            return e.code, parsed(e.read(), e.headers), e.headers

    def api(self, method, path, body=None, expect=(200, 201, 204)):
        status, data, _ = self.call(method, path, body)
        if status not in expect:
            raise AssertionError(f"{method} {path}: {status} {data}")
        return data

    def submit(self, **job):
        job.setdefault("payload", {})
        return self.api("POST", "/jobs", job)["id"]

    def lease(self, worker="test-worker", queues=None):
        ask = {"types": ["ext"], "worker": worker, "max": 1}
        if queues:
            ask["queues"] = queues
        jobs = self.api("POST", "/leases", ask)["jobs"]
        assert len(jobs) == 1, f"expected one job to lease, got {jobs}"
        return jobs[0]["id"], jobs[0]["lease"]["token"]

    def job(self, job_id):
        return self.api("GET", f"/jobs/{job_id}")

    def close(self):
        """Stops the server with SIGTERM. It must exit 0: a sanitizer's report (ASan, a
        leak, TSan) makes it exit otherwise, and then its log is printed and the test fails."""
        self.process.terminate()
        try:
            code = self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            code = "killed after 15 s"
        self.log.close()
        if code != 0:
            with open(os.path.join(self.dir, "server.log"), errors="replace") as log:
                print(log.read()[-20000:])
        shutil.rmtree(self.dir, ignore_errors=True)
        self.database.drop()
        if code != 0:
            raise AssertionError(f"the server exited with {code}")
