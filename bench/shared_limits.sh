#!/usr/bin/env bash
# What sharing the rate limits across replicas costs: one SQLite server (EdDSA, 1,000
# connections), its token endpoint measured with the limits kept per process and with them
# in Redis (`--rate-limit-store`: a round trip per lease of requests), alternately, in one run,
# at 16 and 256 connections. Run by bench/run.sh at its end, or alone. Prints both and their
# ratio, and writes the "Shared rate limits" section of BENCHMARKS.md (between
# <!-- shared_limits --> and <!-- /shared_limits -->). The key's limit is 10,000,000 a second
# (leases of 256 requests); a third point sets the rate to the default 1,000 a second, whose
# leases are 50 requests, with a burst no run exhausts.
#
#   bench/shared_limits.sh          # BENCH_DURATION (10s), BENCH_ROUNDS (2)
#
# Needs wrk and redis-server (Debian's packages; installed when missing).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${BENCH_DURATION:-10s}"
ROUNDS="${BENCH_ROUNDS:-2}"
need_apt() { command -v "$1" >/dev/null || { apt-get update -qq && apt-get install -y -qq "$2" >/dev/null; }; }
need_apt wrk wrk
need_apt redis-server redis-server
cargo build --release --quiet --bin tessera
bin=target/release/tessera
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
field() { sed -E "s/.*$1=([0-9]+).*/\\1/" <<<"$2"; }
WORK=$(mktemp -d)
REDIS_PORT=$(free_port)
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no > "$WORK/redis.log" 2>&1 &
REDIS_PID=$!
trap 'kill ${PID:-} $REDIS_PID 2>/dev/null || true; rm -rf "$WORK"' EXIT

wait_listening() { # FILE PID
  for _ in $(seq 300); do
    grep -q "listening" "$1" 2>/dev/null && return 0
    kill -0 "$2" 2>/dev/null || { cat "$1" >&2; return 1; }
    sleep 0.1
  done
  return 1
}

# A seeded database and its key.
DB_URL="sqlite://$WORK/t.db"
PORT=$(free_port)
"$bin" serve --bind "127.0.0.1:$PORT" --database-url "$DB_URL" > "$WORK/first" 2>&1 &
PID=$!
wait_listening "$WORK/first" "$PID"
TESSERA_KEY=$(f=$(sed -n 's/^tessera wrote the first API key to //p' "$WORK/first" | head -1); cat "$f"; rm -f "$f")
export TESSERA_KEY
kill "$PID"; wait "$PID" || true
python3 bench/seed.py "$WORK/t.db" 1000 >/dev/null

# point MODE CONNS: one measurement; prints requests per second.
point() {
  local extra=() rate=10000000
  [ "$1" != local ] && extra=(--rate-limit-store "redis://127.0.0.1:$REDIS_PORT" --rate-limit-store-prefix "bench$RANDOM")
  [ "$1" = shared50 ] && rate=1000
  "$bin" serve --bind "127.0.0.1:$PORT" --database-url "$DB_URL" --rate-limit "$rate" --rate-burst 10000000 \
    --log-format json "${extra[@]}" > "$WORK/server.log" 2>&1 &
  PID=$!
  wait_listening "$WORK/server.log" "$PID"
  BENCH_N=1000 wrk -t2 -c16 -d2s -s bench/token.lua "http://127.0.0.1:$PORT" >/dev/null 2>&1 || true
  local line
  line=$(BENCH_N=1000 wrk -t2 -c"$2" -d"$DURATION" -s bench/token.lua "http://127.0.0.1:$PORT" | grep '^RESULT')
  kill "$PID"; wait "$PID" || true
  unset PID
  [ "$(field errors_status "$line")" = 0 ] || { echo "errors in the $1 run: $line" >&2; exit 1; }
  echo $(( $(field requests "$line") * 1000000 / $(field duration_us "$line") ))
}

rows=""
for conns in 16 256; do
  local_sum=0; shared_sum=0; shared50_sum=0
  for _ in $(seq "$ROUNDS"); do
    l=$(point local "$conns"); s=$(point shared "$conns"); f=$(point shared50 "$conns")
    echo "conns=$conns per-process=$l shared=$s shared-leases-of-50=$f"
    local_sum=$((local_sum + l)); shared_sum=$((shared_sum + s)); shared50_sum=$((shared50_sum + f))
  done
  l=$((local_sum / ROUNDS)); s=$((shared_sum / ROUNDS)); f=$((shared50_sum / ROUNDS))
  ratio=$(python3 -c "print(f'{$s / $l:.2f}')"); ratio50=$(python3 -c "print(f'{$f / $l:.2f}')")
  echo "conns=$conns mean per-process=$l shared=$s ratio=$ratio leases-of-50=$f ratio=$ratio50"
  rows="$rows| $conns | $l | $s | $ratio | $f | $ratio50 |\n"
done

section=$(mktemp)
{
  echo "<!-- shared_limits -->"
  echo "## Shared rate limits"
  echo
  echo "The token endpoint of one SQLite server (EdDSA, 1,000 connections) with its rate limits kept"
  echo "per process and kept in Redis (\`--rate-limit-store\`, a local \`redis-server\` on the same"
  echo "cores), measured alternately in one run ($ROUNDS rounds of $DURATION each, means),"
  echo "\`bench/shared_limits.sh\` (the end of \`bench/run.sh\`), on $(nproc) cores, $(date -u +%Y-%m-%d)."
  echo "The key's limit is 10,000,000 a second (a replica leases 256 requests per round trip); the"
  echo "last two columns set it to the default 1,000 a second (leases of 50) with a burst no run"
  echo "exhausts:"
  echo
  echo "| connections | per process, tokens/s | shared, tokens/s | ratio | shared, leases of 50 | ratio |"
  echo "|---|---|---|---|---|---|"
  printf "%b" "$rows"
  echo
  echo "A limit under 40 a second leases one request at a time: one round trip per request."
  echo "<!-- /shared_limits -->"
} > "$section"
python3 - "$section" <<'PY'
import re, sys
section = open(sys.argv[1]).read()
old = open("BENCHMARKS.md").read()
pattern = re.compile(r"<!-- shared_limits -->\n.*?<!-- /shared_limits -->\n", re.S)
new = pattern.sub(lambda _: section, old) if pattern.search(old) else old.rstrip("\n") + "\n\n" + section
open("BENCHMARKS.md", "w").write(new)
PY
rm -f "$section"
echo "wrote the Shared rate limits section of BENCHMARKS.md"
