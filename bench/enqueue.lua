-- wrk script: POST /jobs with a noop job.
--
-- No response() callback: it makes wrk hand every response's headers to Lua, which costs
-- wrk CPU that on a 2-core machine is taken from the server. wrk itself counts answers
-- with a status of 400 or more; every other answer to this request is a 201 (a 200 only
-- answers a repeated idempotency key, and none is sent), so created = requests - errors.
-- bench/enqueue checks the count against the rows in the database afterwards.
wrk.method = "POST"
wrk.path = "/jobs"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"type":"noop","payload":{}}'

function done(summary, latency, requests)
  local refused = summary.errors.status
  io.write(string.format("JOBQ created=%d other=%d seconds=%.3f p50_ms=%.3f p99_ms=%.3f\n",
    summary.requests - refused, refused, summary.duration / 1e6,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
