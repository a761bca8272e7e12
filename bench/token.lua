-- wrk script: POST /connections/{id}/token spread over the seeded connections.
-- Environment: TESSERA_KEY, BENCH_N, and BENCH_ID_FORMAT (default "01BENCH%019d": the ids
-- bench/seed.py creates; the reference peer's are "conn%08d").
local key = os.getenv("TESSERA_KEY")
local n = tonumber(os.getenv("BENCH_N") or "1000")
local id_format = os.getenv("BENCH_ID_FORMAT") or "01BENCH%019d"
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("seed", counter)
end

function init(args)
  math.randomseed(seed * 7919 + os.time())
end

function request()
  local id = string.format(id_format, math.random(0, n - 1))
  return wrk.format("POST", "/connections/" .. id .. "/token",
    { ["X-Api-Key"] = key, ["Content-Type"] = "application/json" }, '{"scope":"access"}')
end

function done(summary, latency, requests)
  io.write(string.format("RESULT requests=%d duration_us=%d errors_status=%d p50_us=%d p99_us=%d p999_us=%d\n",
    summary.requests, summary.duration, summary.errors.status,
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9)))
end
