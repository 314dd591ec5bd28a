-- wrk script: the request jobq's webhook jobs make in bench/webhook, for the receiver's
-- own ceiling (same body, same headers).
wrk.method = "POST"
wrk.path = "/hook"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["User-Agent"] = "jobq"
wrk.headers["X-Jobq-Job-Id"] = "123456"
wrk.headers["X-Jobq-Attempt"] = "1"
wrk.body = '{"event":"order.created","order":{"id":123456,"total":"42.00","currency":"EUR"}}'
