"""The load and the sampling of bench/soak (see there)."""
import json
import os
import sys
import time
import urllib.request

MIB = 1024 * 1024


def rss_bytes(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def db_bytes(path):
    return sum(os.path.getsize(path + suffix) for suffix in ("", "-wal") if os.path.exists(path + suffix))


def post_batch(port, jobs):
    body = json.dumps({"jobs": jobs}).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}/jobs/batch", data=body,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request) as answer:
        if answer.status != 201:
            raise RuntimeError(f"batch answered {answer.status}")


def stats(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats") as answer:
        return json.load(answer)["jobs"]


def steady(port, pid, db, minutes, rate):
    """Noop jobs at `rate` per second (one in ten sleeping 0-100 ms), sampled every 10 s."""
    duration = minutes * 60
    batch = max(1, rate // 20)  # twenty batches a second
    start = time.time()
    next_sample = start
    sent = 0
    samples = []
    print(f"{'seconds':>8} {'RSS MiB':>8} {'db MiB':>8} {'done':>10} {'queued':>8}")
    while True:
        now = time.time()
        if now >= next_sample:
            jobs = stats(port)
            samples.append((now - start, rss_bytes(pid)))
            print(f"{now - start:8.0f} {samples[-1][1] / MIB:8.1f} {db_bytes(db) / MIB:8.1f} "
                  f"{jobs['done']:10d} {jobs['queued']:8d}", flush=True)
            next_sample += 10
            if now - start >= duration:
                break
        due = int((now - start) * rate)
        if sent < due:
            jobs = [{"type": "noop", "payload": {"sleep_ms": (i * 37) % 100} if i % 10 == 0 else {}}
                    for i in range(sent, sent + batch)]
            post_batch(port, jobs)
            sent += batch
        else:
            time.sleep(0.01)
    warm = [rss for t, rss in samples if t >= duration / 5]
    growth = (warm[-1] - warm[0]) / warm[0] * 100
    print(f"steady: {sent} jobs in {duration} s; RSS after warm-up {warm[0] / MIB:.1f} -> {warm[-1] / MIB:.1f} MiB "
          f"({growth:+.1f}%, limit +10%): {'PASS' if growth < 10 else 'FAIL'}")


def backlog(port, pid, db, count):
    """`count` jobs stored and not due for a day: the memory a large backlog costs."""
    start = time.time()
    for first in range(0, count, 1000):
        post_batch(port, [{"type": "noop", "payload": {}, "delay_ms": 86_400_000}
                          for _ in range(first, min(count, first + 1000))])
    stored = time.time() - start
    time.sleep(1)
    rss = rss_bytes(pid)
    print(f"backlog: {count} jobs stored in {stored:.1f} s ({count / stored:.0f} jobs/s), database "
          f"{db_bytes(db) / MIB:.0f} MiB, RSS {rss / MIB:.1f} MiB (limit 64): {'PASS' if rss < 64 * MIB else 'FAIL'}")


if __name__ == "__main__":
    mode, port, pid, db = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    if mode == "steady":
        steady(port, pid, db, float(sys.argv[5]), int(sys.argv[6]))
    else:
        backlog(port, pid, db, int(sys.argv[5]))
