"""What the dashboard stands on, without a browser, against the real build/jobq: GET /events
(an event at once then every second, the token, the cap on open streams, a shutdown that
ends it), the /ui/ files (headers, ETag and 304), and the refusal of requests that another
site's page makes a browser send. Run in every build flavour, the sanitizers' included.

    python3 dashboard_api_test.py --jobq build/jobq
"""

import argparse
import http.client
import json
import os
import signal
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from jobq_server import Server, wait_until  # test/support/jobq_server.py

JOBQ = None
MAX_STREAMS = 64  # app/api/overview_feed.hpp


def open_stream(server, token=None):
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    connection.request("GET", "/events", headers={"Authorization": f"Bearer {token}"} if token else {})
    return connection, connection.getresponse()


class Events(unittest.TestCase):
    def next_event(self, answer):
        """(event name, parsed data) of the next event; each line read waits at most 10 s."""
        name, data = None, None
        while True:
            line = answer.fp.readline()
            self.assertTrue(line, "the stream ended")
            line = line.decode().rstrip("\n")
            if line.startswith("event: "):
                name = line[len("event: "):]
            elif line.startswith("data: "):
                data = json.loads(line[len("data: "):])
            elif line == "" and name:
                return name, data

    def test_an_event_at_once_then_every_second_until_the_server_stops(self):
        server = Server(JOBQ)
        try:
            server.submit(type="noop")
            connection, answer = open_stream(server)
            self.assertEqual(answer.status, 200)
            self.assertEqual(answer.getheader("Content-Type"), "text/event-stream")
            self.assertEqual(answer.getheader("Cache-Control"), "no-store")
            started = time.monotonic()
            name, first = self.next_event(answer)
            self.assertEqual(name, "overview")
            self.assertEqual(set(first), {"stats", "history"})
            self.assertEqual(first["history"]["seconds"], 2)
            self.assertIn("done", first["history"]["totals"])
            self.assertIn("run_time_ms", first["stats"])
            wait_until(lambda: self.next_event(answer)[1]["stats"]["jobs"]["done"] == 1, "an event with the job done")
            self.next_event(answer)
            self.assertGreater(time.monotonic() - started, 1.5, "events come about a second apart")
            # A shutdown waits for the stream to end, at its next event, and exits 0.
            server.process.send_signal(signal.SIGTERM)
            self.assertEqual(server.process.wait(timeout=15), 0)
            wait_until(lambda: answer.fp.readline() == b"", "the stream to end")
            connection.close()
        finally:
            server.close()

    def test_the_stream_needs_the_api_token(self):
        server = Server(JOBQ, "--api-token", "t0k3n", "--worker-token", "w0rk3r")
        try:
            for token, status in ((None, 401), ("wrong", 401), ("w0rk3r", 403), ("t0k3n", 200)):
                connection, answer = open_stream(server, token)
                self.assertEqual(answer.status, status, token)
                if status == 200:
                    self.assertEqual(self.next_event(answer)[0], "overview")
                connection.close()
        finally:
            server.close()

    def test_open_streams_are_capped_and_a_closed_one_frees_its_place(self):
        server = Server(JOBQ)
        streams = []
        try:
            for _ in range(MAX_STREAMS):
                streams.append(open_stream(server))
                self.assertEqual(streams[-1][1].status, 200)
            connection, answer = open_stream(server)
            self.assertEqual(answer.status, 429)
            self.assertEqual(json.loads(answer.read())["error"]["code"], "too_many_streams")
            connection.close()
            # The server notices a stream's client left at its next event, and frees its place.
            streams.pop()[0].close()

            def one_more_opens():
                connection, answer = open_stream(server)
                streams.append((connection, answer))
                return answer.status == 200
            wait_until(one_more_opens, "a place freed by a closed stream")
        finally:
            for connection, _ in streams:
                connection.close()
            server.close()


class Ui(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = Server(JOBQ, "--api-token", "t0k3n")

    @classmethod
    def tearDownClass(cls):
        cls.server.close()

    def test_files_load_without_a_token_with_strict_headers_and_a_validator(self):
        for path in ("/ui/", "/ui/index.html", "/ui/dashboard.js", "/ui/dashboard.css", "/ui/chart.min.js",
                     "/ui/favicon.svg"):
            status, _, headers = self.server.call("GET", path)
            self.assertEqual(status, 200, path)
            csp = headers["Content-Security-Policy"]
            self.assertIn("default-src 'none'", csp)
            self.assertIn("script-src 'self'", csp)
            self.assertIn("frame-ancestors 'none'", csp)
            self.assertNotIn("unsafe-inline", csp)
            self.assertNotIn("unsafe-eval", csp)
            self.assertEqual(headers["X-Frame-Options"], "DENY")
            self.assertEqual(headers["X-Content-Type-Options"], "nosniff")
            self.assertEqual(headers["Referrer-Policy"], "no-referrer")
            etag = headers["ETag"]
            self.assertRegex(etag, r'^"[0-9a-f]{16}"$')
            status, _, again = self.server.call("GET", path, headers={"If-None-Match": etag})
            self.assertEqual(status, 304, path)
            self.assertEqual(again["ETag"], etag)
        self.assertEqual(self.server.call("GET", "/ui/dashboard.js")[2]["Content-Type"], "text/javascript; charset=utf-8")
        status, body, _ = self.server.call("GET", "/ui/missing.js")
        self.assertEqual((status, body["error"]["code"]), (404, "not_found"))

    def test_ui_without_its_slash_is_redirected(self):
        connection = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=10)
        try:
            connection.request("GET", "/ui")
            answer = connection.getresponse()
            answer.read()
            self.assertEqual(answer.status, 308)
            self.assertEqual(answer.getheader("Location"), "ui/")
        finally:
            connection.close()

    def test_the_api_still_needs_its_token(self):
        self.assertEqual(self.server.call("GET", "/stats")[0], 401)
        self.assertEqual(self.server.call("GET", "/workers")[0], 401)
        self.assertEqual(self.server.call("GET", "/stats", token="t0k3n")[0], 200)


class OtherSites(unittest.TestCase):
    """A page of another site cannot make a browser change jobs, nor read them by a rebound name."""

    @classmethod
    def setUpClass(cls):
        cls.server = Server(JOBQ)

    @classmethod
    def tearDownClass(cls):
        cls.server.close()

    def queued_job(self):
        return self.server.submit(type="ext", delay_ms=3_600_000)

    def test_a_write_from_another_site_is_refused_and_changes_nothing(self):
        job = self.queued_job()
        own = f"127.0.0.1:{self.server.port}"
        for headers in ({"Sec-Fetch-Site": "cross-site"}, {"Sec-Fetch-Site": "same-site"},
                        {"Origin": "http://evil.example"}, {"Origin": f"http://localhost:{self.server.port + 1}"},
                        {"Origin": "null"}):
            status, body, _ = self.server.call("POST", f"/jobs/{job}/cancel", headers=headers)
            self.assertEqual((status, body["error"]["code"]), (403, "cross_site"), headers)
            self.assertEqual(self.server.job(job)["state"], "queued")
        # Reads are not refused: a page of another site cannot read the answer anyway.
        self.assertEqual(self.server.call("GET", f"/jobs/{job}", headers={"Sec-Fetch-Site": "cross-site"})[0], 200)
        # The server's own pages, and clients that are not browsers, may write.
        for headers in ({"Sec-Fetch-Site": "same-origin", "Origin": f"http://{own}"}, {"Origin": f"http://{own}"},
                        {"Sec-Fetch-Site": "none"}, {}):
            job = self.queued_job()
            status, _, _ = self.server.call("POST", f"/jobs/{job}/cancel", headers=headers)
            self.assertEqual(status, 200, headers)

    def test_a_loopback_server_answers_only_loopback_names(self):
        port = self.server.port
        for host in ("evil.example", f"evil.example:{port}", "10.0.0.1", "127.0.0.1.evil.example",
                     f"127.0.0.1.evil.example:{port}", "127.evil", "localhost.evil", "[::1]junk", "[::1"):
            for path in ("/stats", "/ui/", "/events"):
                status, body, _ = self.server.call("GET", path, headers={"Host": host})
                self.assertEqual((status, body["error"]["code"]), (403, "unknown_host"), (host, path))
        for host in (f"localhost:{port}", f"127.0.0.1:{port}", "LOCALHOST", "localhost.", f"[::1]:{port}",
                     f"127.1.2.3:{port}"):
            self.assertEqual(self.server.call("GET", "/stats", headers={"Host": host})[0], 200, host)
        # The probes answer whatever name they are asked by (a load balancer's, a pod's address).
        for path in ("/healthz", "/readyz"):
            self.assertEqual(self.server.call("GET", path, headers={"Host": "10.0.0.1:8080"})[0], 200, path)

    def test_allowed_hosts_adds_names_and_a_star_any(self):
        named = Server(JOBQ, "--allowed-hosts", "Jobs.Example, proxy")
        anything = Server(JOBQ, "--allowed-hosts", "*")
        try:
            for host, status in (("jobs.example", 200), ("JOBS.EXAMPLE:443", 200), ("proxy", 200), ("other", 403)):
                self.assertEqual(named.call("GET", "/stats", headers={"Host": host})[0], status, host)
            self.assertEqual(anything.call("GET", "/stats", headers={"Host": "other.example"})[0], 200)
        finally:
            named.close()
            anything.close()


def main():
    global JOBQ
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobq", required=True)
    args, rest = parser.parse_known_args()
    JOBQ = os.path.abspath(args.jobq)
    unittest.main(argv=[sys.argv[0], "-v", *rest])


if __name__ == "__main__":
    main()
