-- wrk script: pages of one connection's purchases, newest first, with an access token.
-- A quarter are first pages, the rest start after a random purchase of the connection
-- (ids hot-%08d, as bench/purchases.sh seeds them). Environment: TESSERA_KEY, BENCH_TOKEN,
-- BENCH_CONN, BENCH_HOT (purchases of the measured connection), BENCH_LIMIT (page size).
local key = os.getenv("TESSERA_KEY")
local bearer = "Bearer " .. os.getenv("BENCH_TOKEN")
local conn = os.getenv("BENCH_CONN")
local hot = tonumber(os.getenv("BENCH_HOT"))
local limit = os.getenv("BENCH_LIMIT") or "50"
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("seed", counter)
end

function init(args)
  math.randomseed(seed * 7919 + os.time())
end

function request()
  local path = "/connections/" .. conn .. "/purchases?limit=" .. limit
  if math.random(4) > 1 then
    path = path .. string.format("&starting_after=hot-%08d", math.random(0, hot - 1))
  end
  return wrk.format("GET", path, { ["X-Api-Key"] = key, ["Authorization"] = bearer })
end

function done(summary, latency, requests)
  io.write(string.format("RESULT requests=%d duration_us=%d errors_status=%d p50_us=%d p99_us=%d p999_us=%d\n",
    summary.requests, summary.duration, summary.errors.status,
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9)))
end
