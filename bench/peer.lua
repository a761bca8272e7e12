-- wrk script for the reference peer: its connections are conn00000000 .. conn{N-1}.
local n = tonumber(os.getenv("BENCH_N") or "1000")
local counter = 0
function setup(thread) counter = counter + 1; thread:set("seed", counter) end
function init(args) math.randomseed(seed * 7919 + os.time()) end
function request()
  local id = string.format("conn%08d", math.random(0, n - 1))
  return wrk.format("POST", "/connections/" .. id .. "/token",
    { ["X-Api-Key"] = "key-c1", ["Content-Type"] = "application/json" }, '{"scope":"access"}')
end
function done(summary, latency, requests)
  io.write(string.format("RESULT requests=%d duration_us=%d errors_status=%d p50_us=%d p99_us=%d p999_us=%d\n",
    summary.requests, summary.duration, summary.errors.status,
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9)))
end
