#!/usr/bin/env bash
# Benchmarks the token endpoint against the same server's cheapest route (the ceiling) and,
# when it can be installed, the reference FastAPI stack. One command reproduces BENCHMARKS.md:
#
#   bench/run.sh            # N = 1,000 and 1,000,000; EdDSA and HS256; 16 and 256 connections
#   BENCH_QUICK=1 bench/run.sh   # N = 1,000 only
#
# Needs wrk (installed from Debian's packages when missing) and python3. SQLite backend.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${BENCH_DURATION:-10s}"
SIZES="${BENCH_SIZES:-1000 1000000}"
[ -n "${BENCH_QUICK:-}" ] && SIZES=1000
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
cargo build --release --quiet
bin=target/release/tessera
out=bench/results
mkdir -p "$out"
results="$out/results.tsv"
printf "target\talg\tn\tconns\trps\tp50_us\tp99_us\tp999_us\tpeak_rss_kib\terrors\n" > "$results"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

run_wrk() { # label alg n conns script url
  local line
  line=$(BENCH_N="$3" wrk -t2 -c"$4" -d"$DURATION" --latency -s "$5" "$6" | grep '^RESULT')
  local req dur err p50 p99 p999
  req=$(sed -E 's/.*requests=([0-9]+).*/\1/' <<<"$line"); dur=$(sed -E 's/.*duration_us=([0-9]+).*/\1/' <<<"$line")
  err=$(sed -E 's/.*errors_status=([0-9]+).*/\1/' <<<"$line")
  p50=$(sed -E 's/.*p50_us=([0-9]+).*/\1/' <<<"$line"); p99=$(sed -E 's/.*p99_us=([0-9]+).*/\1/' <<<"$line")
  p999=$(sed -E 's/.*p999_us=([0-9]+).*/\1/' <<<"$line")
  local rps=$(( req * 1000000 / dur ))
  local rss=0
  [ -n "${PID:-}" ] && rss=$(awk '/VmHWM/ {print $2}' "/proc/$PID/status")
  printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n" "$1" "$2" "$3" "$4" "$rps" "$p50" "$p99" "$p999" "$rss" "$err" | tee -a "$results"
}

for alg in EdDSA HS256; do
  for n in $SIZES; do
    dir=$(mktemp -d)
    port=$(free_port)
    # First start: migrate, bootstrap, print the key.
    "$bin" serve --bind "127.0.0.1:$port" --database-url "sqlite://$dir/t.db" --algorithm "$alg" > "$dir/out" 2>/dev/null &
    PID=$!
    until grep -q "listening" "$dir/out" 2>/dev/null; do sleep 0.1; done
    key=$(grep -o 'tsk_[A-Za-z0-9_-]*' "$dir/out")
    kill "$PID"; wait "$PID" || true
    python3 bench/seed.py "$dir/t.db" "$n" >/dev/null
    "$bin" serve --bind "127.0.0.1:$port" --database-url "sqlite://$dir/t.db" --algorithm "$alg" \
      --rate-limit 10000000 --rate-burst 10000000 --log-format json > "$dir/out2" 2>/dev/null &
    PID=$!
    until grep -q "listening" "$dir/out2" 2>/dev/null; do sleep 0.1; done
    export TESSERA_KEY="$key"
    for conns in 16 256; do
      run_wrk ceiling "$alg" "$n" "$conns" bench/healthz.lua "http://127.0.0.1:$port/healthz"
      run_wrk token "$alg" "$n" "$conns" bench/token.lua "http://127.0.0.1:$port"
    done
    kill "$PID"; wait "$PID" || true
    unset PID
    rm -rf "$dir"
  done
done

# The reference stack (FastAPI + Pydantic + PyJWT on uvicorn, 2 workers), when installable.
venv=target/bench-venv
if [ -x "$venv/bin/uvicorn" ] || { python3 -m venv "$venv" && "$venv/bin/pip" install -q fastapi uvicorn uvloop pyjwt; } 2>/dev/null; then
  dir=$(mktemp -d); port=$(free_port)
  "$venv/bin/python" bench/reference_peer.py seed "$dir/peer.db" 1000
  (cd bench && PEER_DB="$dir/peer.db" "../$venv/bin/uvicorn" reference_peer:app --port "$port" --workers 2 --log-level warning) &
  PEER=$!
  sleep 3
  for conns in 16 256; do
    line=$(TESSERA_KEY=key-c1 BENCH_ID_FORMAT='conn%08d' BENCH_N=1000 \
      wrk -t2 -c"$conns" -d"$DURATION" -s bench/token.lua "http://127.0.0.1:$port" | grep '^RESULT')
    req=$(sed -E 's/.*requests=([0-9]+).*/\1/' <<<"$line"); dur=$(sed -E 's/.*duration_us=([0-9]+).*/\1/' <<<"$line")
    p50=$(sed -E 's/.*p50_us=([0-9]+).*/\1/' <<<"$line"); p99=$(sed -E 's/.*p99_us=([0-9]+).*/\1/' <<<"$line")
    p999=$(sed -E 's/.*p999_us=([0-9]+).*/\1/' <<<"$line"); err=$(sed -E 's/.*errors_status=([0-9]+).*/\1/' <<<"$line")
    printf "reference\tHS256\t1000\t%s\t%s\t%s\t%s\t%s\t0\t%s\n" "$conns" $(( req * 1000000 / dur )) "$p50" "$p99" "$p999" "$err" | tee -a "$results"
  done
  pkill -P "$PEER" || true; kill "$PEER" || true
  rm -rf "$dir"
fi

cmd="bench/run.sh"
[ -n "${BENCH_QUICK:-}" ] && cmd="BENCH_QUICK=1 $cmd"
[ "$DURATION" != "10s" ] && cmd="BENCH_DURATION=$DURATION $cmd"
python3 bench/report.py "$results" "$cmd" > BENCHMARKS.md
echo "wrote BENCHMARKS.md"
