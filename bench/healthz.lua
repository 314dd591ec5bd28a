-- wrk script: GET /healthz, the HTTP floor of the same server (no storage involved).
wrk.method = "GET"
wrk.path = "/healthz"

function done(summary, latency, requests)
  io.write(string.format("JOBQ created=%d other=0 seconds=%.3f p50_ms=%.3f p99_ms=%.3f\n",
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
