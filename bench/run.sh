#!/usr/bin/env bash
# Benchmarks the token endpoint against the same server's cheapest route (the ceiling) and
# the reference FastAPI stack, on both backends, and profiles the hot path. One command
# reproduces BENCHMARKS.md, bench/throughput.svg and bench/latency.svg:
#
#   bench/run.sh                   # everything: N = 1,000 and 1,000,000 (about 15 minutes)
#   BENCH_QUICK=1 bench/run.sh     # N = 1,000 only, 5 s per point
#   BENCH_SOAK=1 bench/run.sh      # then the retention soak, bench/soak.sh (about 30 minutes)
#
# It ends with bench/shared_limits.sh (the shared rate limits' cost; BENCH_SHARED_LIMITS=0 skips).
#
# Environment: BENCH_DURATION (10s), BENCH_SIZES ("1000 1000000"), BENCH_BACKENDS
# ("sqlite postgres"), BENCH_ALGS ("EdDSA HS256"), BENCH_PG (a PostgreSQL server URL
# without database, default postgres://postgres@127.0.0.1:5432; a database is created
# and dropped for each run), BENCH_PROFILE=0 to skip the profile.
#
# Installs what it lacks: wrk and perf from Debian's packages, the reference stack from PyPI
# (into target/bench-venv). Everything runs on this machine; wrk gets 2 threads.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${BENCH_DURATION:-10s}"
SIZES="${BENCH_SIZES:-1000 1000000}"
BACKENDS="${BENCH_BACKENDS:-sqlite postgres}"
ALGS="${BENCH_ALGS:-EdDSA HS256}"
PG="${BENCH_PG:-postgres://postgres@127.0.0.1:5432}"
if [ -n "${BENCH_QUICK:-}" ]; then SIZES=1000; DURATION="${BENCH_DURATION:-5s}"; fi
need_apt() { command -v "$1" >/dev/null || { apt-get update -qq && apt-get install -y -qq "$2" >/dev/null; }; }
need_apt wrk wrk
[ "${BENCH_PROFILE:-1}" = 0 ] || need_apt perf linux-perf || true
cargo build --release --quiet --bin tessera --example ceiling
bin=target/release/tessera
out=bench/results
mkdir -p "$out"
results="$out/results.tsv"
printf "backend\ttarget\talg\tn\tconns\trps\tp50_us\tp99_us\tp999_us\tpeak_rss_kib\terrors\n" > "$results"
# A fixed key-encryption key for the PostgreSQL runs (SQLite keeps a key file beside the database).
export TESSERA_BENCH_KEK="YmVuY2htYXJrLWtlay1ub3QtZm9yLXByb2R1Y3Rpb24="

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
field() { sed -E "s/.*$1=([0-9]+).*/\\1/" <<<"$2"; }

# run_wrk BACKEND TARGET ALG N CONNS SCRIPT URL: one point, appended to results.tsv.
run_wrk() {
  local line
  line=$(BENCH_N="$4" wrk -t2 -c"$5" -d"$DURATION" --latency -s "$6" "$7" | grep '^RESULT')
  local rss=0
  [ -n "${PID:-}" ] && rss=$(awk '/VmHWM/ {print $2}' "/proc/$PID/status")
  printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n" "$1" "$2" "$3" "$4" "$5" \
    $(( $(field requests "$line") * 1000000 / $(field duration_us "$line") )) \
    "$(field p50_us "$line")" "$(field p99_us "$line")" "$(field p999_us "$line")" "$rss" \
    "$(field errors_status "$line")" | tee -a "$results"
}

wait_listening() { # FILE PID
  for _ in $(seq 300); do
    grep -q "listening" "$1" 2>/dev/null && return 0
    kill -0 "$2" 2>/dev/null || { cat "$1" >&2; return 1; }
    sleep 0.1
  done
  return 1
}

# start_server BACKEND ALG N: a seeded server; sets PID, PORT, TESSERA_KEY, DB_URL.
start_server() {
  local backend=$1 alg=$2 n=$3
  PORT=$(free_port)
  WORK=$(mktemp -d)
  if [ "$backend" = sqlite ]; then
    DB_URL="sqlite://$WORK/t.db"
    unset TESSERA_KEK
  else
    PG_DB="tessera_bench_$$"
    psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS $PG_DB" -c "CREATE DATABASE $PG_DB" >/dev/null
    DB_URL="$PG/$PG_DB"
    export TESSERA_KEK="$TESSERA_BENCH_KEK"
  fi
  # First start: migrate, bootstrap the first client, print its key.
  "$bin" serve --bind "127.0.0.1:$PORT" --database-url "$DB_URL" --algorithm "$alg" > "$WORK/first" 2>&1 &
  PID=$!
  wait_listening "$WORK/first" "$PID"
  TESSERA_KEY=$(f=$(sed -n 's/^tessera wrote the first API key to //p' "$WORK/first" | head -1); cat "$f"; rm -f "$f")
  export TESSERA_KEY
  kill "$PID"; wait "$PID" || true
  if [ "$backend" = sqlite ]; then
    python3 bench/seed.py "$WORK/t.db" "$n" >/dev/null
  else
    psql "$DB_URL" -qc "INSERT INTO connections
        (id, client_id, customer_id, retailer_id, status, created_at, updated_at)
      SELECT '01BENCH' || lpad(i::text, 19, '0'), (SELECT id FROM clients ORDER BY created_at LIMIT 1),
             'cust-' || i, 'walmart', 'active', 0, 0
      FROM generate_series(0, $n - 1) AS i" -c "ANALYZE" >/dev/null
  fi
  # The measured server: a fresh process, so its peak RSS is this run's alone. Rate limits
  # stay on (every request takes from its key's bucket) with a bucket no run can empty.
  "$bin" serve --bind "127.0.0.1:$PORT" --database-url "$DB_URL" --algorithm "$alg" \
    --rate-limit 10000000 --rate-burst 10000000 --log-format json > "$WORK/server.log" 2>&1 &
  PID=$!
  wait_listening "$WORK/server.log" "$PID"
  warm_up "http://127.0.0.1:$PORT"
}

# warm_up URL: 2 s of the token script, not measured, so that no point measures a cold start
# (caches, connection pools, and for the reference stack its interpreter's first requests).
warm_up() {
  BENCH_N=1000 wrk -t2 -c16 -d2s -s bench/token.lua "$1" >/dev/null 2>&1 || true
}

stop_server() {
  kill "$PID"; wait "$PID" || true
  unset PID
  rm -rf "$WORK"
  if [ -n "${PG_DB:-}" ]; then
    psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS $PG_DB" >/dev/null
    unset PG_DB
  fi
}

# The two ceilings (bench/ceiling.rs), each measured under the same wrk script just before every
# tessera point: HTTP alone, and HTTP plus a group-committed fdatasync of a 128-byte record per
# request, its log on the same disk as the databases (SQLite's in a temporary directory beside
# it, PostgreSQL's data directory).
CEILINGS=$(mktemp -d)
HTTP_PORT=$(free_port)
target/release/examples/ceiling http "$HTTP_PORT" > "$CEILINGS/http.out" 2>&1 &
HTTP_PID=$!
DURABLE_PORT=$(free_port)
target/release/examples/ceiling durable "$DURABLE_PORT" "$CEILINGS/durable.log" > "$CEILINGS/durable.out" 2>&1 &
DURABLE_PID=$!
trap 'kill $HTTP_PID $DURABLE_PID 2>/dev/null || true; rm -rf "$CEILINGS"' EXIT
wait_listening "$CEILINGS/http.out" "$HTTP_PID"
wait_listening "$CEILINGS/durable.out" "$DURABLE_PID"

# run_point BACKEND ALG N CONNS: both ceilings, then the token endpoint, at one concurrency.
run_point() {
  local pid=$PID
  PID=$HTTP_PID run_wrk "$1" http "$2" "$3" "$4" bench/token.lua "http://127.0.0.1:$HTTP_PORT"
  : > "$CEILINGS/durable.log"
  PID=$DURABLE_PID run_wrk "$1" durable "$2" "$3" "$4" bench/token.lua "http://127.0.0.1:$DURABLE_PORT"
  PID=$pid run_wrk "$1" token "$2" "$3" "$4" bench/token.lua "http://127.0.0.1:$PORT"
}

for backend in $BACKENDS; do
  for alg in $ALGS; do
    for n in $SIZES; do
      start_server "$backend" "$alg" "$n"
      for conns in 16 256; do
        run_point "$backend" "$alg" "$n" "$conns"
      done
      stop_server
    done
  done
done

# The reference stack: FastAPI + Pydantic + PyJWT on uvicorn with uvloop and httptools,
# 2 workers, its own SQLite file, N = 1,000.
venv=target/bench-venv
if [ "${BENCH_REFERENCE:-1}" = 0 ]; then :
elif [ -x "$venv/bin/uvicorn" ] || { python3 -m venv "$venv" && "$venv/bin/pip" install -q fastapi uvicorn uvloop httptools pyjwt; }; then
  WORK=$(mktemp -d); PORT=$(free_port)
  "$venv/bin/python" bench/reference_peer.py seed "$WORK/peer.db" 1000
  (cd bench && PEER_DB="$WORK/peer.db" exec "../$venv/bin/uvicorn" reference_peer:app --port "$PORT" --workers 2 \
    --log-level warning --loop uvloop --http httptools) &
  PEER=$!
  for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$PORT/docs" && break; sleep 0.2; done
  TESSERA_KEY=key-c1 BENCH_ID_FORMAT='conn%08d' warm_up "http://127.0.0.1:$PORT"
  for conns in 16 256; do
    TESSERA_KEY=key-c1 BENCH_ID_FORMAT='conn%08d' \
      run_wrk sqlite reference HS256 1000 "$conns" bench/token.lua "http://127.0.0.1:$PORT"
  done
  pkill -P "$PEER" || true; kill "$PEER" || true; wait "$PEER" 2>/dev/null || true
  rm -rf "$WORK"
fi

# Where the time goes: the SQLite EdDSA server under 256 connections, sampled by perf.
profile="$out/profile.txt"
rm -f "$profile"
if [ "${BENCH_PROFILE:-1}" != 0 ] && command -v perf >/dev/null && perf stat -e task-clock true >/dev/null 2>&1; then
  start_server sqlite EdDSA 1000
  (BENCH_N=1000 wrk -t2 -c256 -d12s -s bench/token.lua "http://127.0.0.1:$PORT" >/dev/null) &
  WRK=$!
  sleep 2
  perf record -q -F 999 -g -p "$PID" -o "$out/perf.data" -- sleep 8 >/dev/null 2>&1
  wait "$WRK"
  perf report -i "$out/perf.data" --no-children --sort comm,dso,sym -g none --stdio 2>/dev/null > "$out/perf.txt"
  python3 bench/profile.py "$out/perf.txt" > "$profile"
  stop_server
fi

# BENCH_REPORT=0: the numbers in bench/results/results.tsv only, BENCHMARKS.md untouched.
[ "${BENCH_REPORT:-1}" = 0 ] && exit 0
cmd="bench/run.sh"
[ -n "${BENCH_QUICK:-}" ] && cmd="BENCH_QUICK=1 $cmd"
[ -n "${BENCH_DURATION:-}" ] && cmd="BENCH_DURATION=$DURATION $cmd"
[ -n "${BENCH_SIZES:-}" ] && cmd="BENCH_SIZES=\"$SIZES\" $cmd"
[ -n "${BENCH_BACKENDS:-}" ] && cmd="BENCH_BACKENDS=\"$BACKENDS\" $cmd"
[ -n "${BENCH_ALGS:-}" ] && cmd="BENCH_ALGS=\"$ALGS\" $cmd"
# The other benchmarks' sections (console, purchases, soak: each between <!-- name --> and
# <!-- /name -->, written by its own script) are kept, after this run's report.
report_md=$(mktemp)
python3 bench/report.py "$results" "$cmd" "$profile" > "$report_md"
python3 - "$report_md" <<'PY'
import re, sys
old = open("BENCHMARKS.md").read() if __import__("os").path.exists("BENCHMARKS.md") else ""
kept = [m.group(0) for m in re.finditer(r"<!-- (\w+) -->\n.*?<!-- /\1 -->\n", old, re.S)]
report = open(sys.argv[1]).read().rstrip("\n") + "\n"
kept = [k for k in kept if k.split("\n", 1)[0] not in report]  # the report may carry one itself
open("BENCHMARKS.md", "w").write(report + "".join("\n" + k for k in kept))
PY
rm -f "$report_md"
echo "wrote BENCHMARKS.md"
# What the shared rate limits cost (Redis against per process, alternately): its own section,
# bench/shared_limits.sh (about 2 minutes; BENCH_SHARED_LIMITS=0 skips it).
if [ "${BENCH_SHARED_LIMITS:-1}" != 0 ]; then BENCH_DURATION="$DURATION" bench/shared_limits.sh; fi
# The retention soak (21 minutes and more): BENCH_SOAK=1 bench/run.sh, or bench/soak.sh alone.
if [ -n "${BENCH_SOAK:-}" ]; then bench/soak.sh; fi
grep -A20 '^## Targets' BENCHMARKS.md | sed -n '1,20p'
