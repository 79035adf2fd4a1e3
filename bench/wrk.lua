-- wrk's script for bench/run.py: every request a POST with the body and headers run.py hands
-- over in the environment (BENCH_BODY: a file holding the body; BENCH_HEADERS: "Name: value"
-- lines), and at the end one line of figures run.py reads (latencies in microseconds).
wrk.method = "POST"
local body = os.getenv("BENCH_BODY")
if body then
  local file = assert(io.open(body, "rb"))
  wrk.body = file:read("*a")
  file:close()
end
for line in (os.getenv("BENCH_HEADERS") or ""):gmatch("[^\n]+") do
  local name, value = line:match("^([^:]+):%s*(.*)$")
  wrk.headers[name] = value
end

function done(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    "BENCH requests=%d duration_us=%d status_errors=%d socket_errors=%d p50_us=%d p99_us=%d\n",
    summary.requests, summary.duration, errors.status,
    errors.connect + errors.read + errors.write + errors.timeout,
    latency:percentile(50), latency:percentile(99)))
end
