#!/usr/bin/env python3
"""A jobq worker for external job types, on Python's standard library only.

    JOBQ_WORKER_TOKEN=secret python3 worker.py --url http://127.0.0.1:8080 --type resize

It leases a batch of jobs (POST /leases, waiting up to --wait-ms for one), runs handle()
on each, settles the whole batch in one request (POST /leases/settle), and repeats.
SIGTERM or SIGINT: it finishes the batch in hand, settles it and exits 0.

What jobq guarantees: every job runs AT LEAST once. A lease lasts --lease-ms; a job not
settled by then (its worker died, hung or was too slow) is leased again, here or
elsewhere, with a new token. Settling with the old token answers "lease_lost" and
changes nothing: the job is another run's now, so do not retry it. Hence handle() must
be safe to run twice for the same job, and a batch must finish well within --lease-ms
(lease fewer jobs, or extend each lease with POST /jobs/{id}/extend). The settle request
carries the batch's results: with large results, lease fewer jobs, to stay within the
server's --max-body-bytes (1 MiB by default).
"""
import argparse
import json
import os
import signal
import sys
import time
import urllib.error
import urllib.request

MAX_RESULT_BYTES = 64 * 1024  # jobq refuses a larger result, and the whole settle with it
SETTLE_TIMEOUT_S = 30

stopping = False  # set by SIGTERM/SIGINT; checked between batches


def handle(job):
    """The work of one job: returns its result (any JSON), or raises to fail it.

    Replace this. An exception fails the job as retryable: jobq runs it again after a
    backoff, until it is out of attempts (then it is kept as failed: dead-lettered)."""
    return {"echo": job["payload"]}


def run(job):
    """Runs one job; returns ("ack" or "fail", its entry in the settle request)."""
    entry = {"id": job["id"], "token": job["lease"]["token"]}
    try:
        result = handle(job)
        text = json.dumps(result, allow_nan=False, separators=(",", ":"), ensure_ascii=False)
        if len(text.encode()) > MAX_RESULT_BYTES:
            raise ValueError(f"the result is larger than {MAX_RESULT_BYTES} bytes")
        return "ack", dict(entry, result=result)
    except Exception as e:  # any failure fails the job; jobq keeps up to 64 KiB of error
        return "fail", dict(entry, error=f"{type(e).__name__}: {e}"[:8000], retryable=True)


def post(url, path, body, timeout, give_up):
    """POSTs `body` as JSON; returns the JSON answer, or None once give_up() holds.

    A network error or a 5xx is retried with backoff; any other error status is a mistake
    in the request or the configuration (a type not external, a wrong token): it exits
    with status 1 and the server's answer."""
    headers = {"Content-Type": "application/json"}
    if os.environ.get("JOBQ_WORKER_TOKEN"):
        headers["Authorization"] = "Bearer " + os.environ["JOBQ_WORKER_TOKEN"]
    data = json.dumps(body, allow_nan=False).encode()
    delay = 0.5
    while True:
        try:
            request = urllib.request.Request(url + path, data, headers, method="POST")
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return json.load(response)
        except urllib.error.HTTPError as e:
            if e.code < 500:
                sys.exit(f"worker: POST {path}: {e.code} {e.read().decode(errors='replace')}")
            problem = f"{e.code} {e.reason}"
        except OSError as e:  # refused, reset, timed out
            problem = str(e)
        if give_up():
            return None
        print(f"worker: POST {path}: {problem}; again in {delay:g} s", file=sys.stderr)
        time.sleep(delay)
        delay = min(delay * 2, 30)


def main():
    p = argparse.ArgumentParser(description="A jobq worker for external job types.")
    p.add_argument("--url", default=os.environ.get("JOBQ_URL", "http://127.0.0.1:8080"))
    p.add_argument("--type", dest="types", action="append", required=True, help="a type to lease (repeatable)")
    p.add_argument("--max", type=int, default=100, help="jobs per lease (1..1000)")
    p.add_argument("--wait-ms", type=int, default=10000, help="how long a lease waits for a job (0..60000)")
    p.add_argument("--lease-ms", type=int, default=60000, help="how long a batch is ours")
    p.add_argument("--worker", default=f"{os.uname().nodename}:{os.getpid()}", help="shown on leased jobs")
    p.add_argument("--exit-when-idle", action="store_true", help="stop when a lease finds nothing")
    args = p.parse_args()
    url = args.url.rstrip("/")

    def stop(signum, frame):
        # A lease waiting when the signal comes is let finish (within --wait-ms): the jobs
        # it brings are handled and settled too, so none is left leased to no one.
        global stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    ask = {"types": args.types, "max": args.max, "wait_ms": args.wait_ms,
           "lease_ms": args.lease_ms, "worker": args.worker}
    done = failed = lost = 0
    try:
        while not stopping:
            leased_at = time.monotonic()
            answer = post(url, "/leases", ask, args.wait_ms / 1000 + 10, give_up=lambda: stopping)
            jobs = answer["jobs"] if answer else []
            if not jobs:
                if args.exit_when_idle:
                    break
                continue
            settle = {"ack": [], "fail": []}
            for job in jobs:
                kind, entry = run(job)
                settle[kind].append(entry)
            # Retried until the leases would have expired: after that the jobs run again
            # anyway. A retry after a settle that did commit answers lease_lost for them.
            expiry = leased_at + args.lease_ms / 1000
            answer = post(url, "/leases/settle", settle, SETTLE_TIMEOUT_S,
                          give_up=lambda: time.monotonic() >= expiry)
            if answer is None:
                lost += len(jobs)
                continue
            acked = {entry["id"] for entry in settle["ack"]}
            for result in answer["results"]:
                if result["status"] != "ok":
                    lost += 1  # lease_lost: it expired; the job runs again elsewhere
                elif result["id"] in acked:
                    done += 1
                else:
                    failed += 1
    finally:
        print(f"worker {args.worker}: {done} done, {failed} failed, {lost} lease lost", file=sys.stderr)


if __name__ == "__main__":
    main()
