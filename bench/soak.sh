#!/usr/bin/env bash
# The retention soak: each backend's server gets tokens at a steady rate for 21 minutes with
# token lifetimes of 60 s and retention windows of 120 s, while its database size, rows and
# RSS are sampled every 15 s; at the end every token still live must introspect as active.
# Then the token endpoint's p99 with the pruner deleting a backlog of expired records against
# without pruning. Writes bench/soak.svg and bench/soak.md, and puts the latter into
# BENCHMARKS.md. Run alone or from bench/run.sh (BENCH_SOAK=1):
#
#   bench/soak.sh                       # both backends at once, then the p99 comparison
#   SOAK_PHASES=p99 bench/soak.sh       # only the p99 comparison
#
# Environment: SOAK_SECONDS (1260), SOAK_RATE (250 tokens/s per backend), SOAK_BACKENDS
# ("sqlite postgres"), SOAK_PHASES ("soak p99"), SOAK_BACKLOG (2000000 expired records
# for the p99 runs), SOAK_P99_DURATION (30s), BENCH_PG (postgres://postgres@127.0.0.1:5432).
set -euo pipefail
cd "$(dirname "$0")/.."
export SOAK_SECONDS="${SOAK_SECONDS:-1260}"
export SOAK_RATE="${SOAK_RATE:-250}"
BACKENDS="${SOAK_BACKENDS:-sqlite postgres}"
PHASES="${SOAK_PHASES:-soak p99}"
BACKLOG="${SOAK_BACKLOG:-2000000}"
P99_DURATION="${SOAK_P99_DURATION:-30s}"
PG="${BENCH_PG:-postgres://postgres@127.0.0.1:5432}"
KEK="YmVuY2htYXJrLWtlay1ub3QtZm9yLXByb2R1Y3Rpb24="
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
cargo build --release --quiet
bin=target/release/tessera
out=bench/results
mkdir -p "$out"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_listening() { # FILE PID
  for _ in $(seq 300); do
    grep -q "listening" "$1" 2>/dev/null && return 0
    kill -0 "$2" 2>/dev/null || { cat "$1" >&2; return 1; }
    sleep 0.1
  done
  return 1
}
# db_for BACKEND WORK NAME: prints the database URL (a fresh PostgreSQL database NAME).
db_for() {
  if [ "$1" = sqlite ]; then echo "sqlite://$2/t.db"; else
    psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS $3" -c "CREATE DATABASE $3" >/dev/null
    echo "$PG/$3"
  fi
}
RETAIN=(--token-ttl 60 --retention-issuance 120 --retention-events 120 --retention-webhooks 120
        --prune-interval 10 --rate-limit 10000000 --rate-burst 10000000)

if [[ " $PHASES " == *" soak "* ]]; then
  pids=()
  for backend in $BACKENDS; do
    WORK=$(mktemp -d); PORT=$(free_port); DB_URL=$(db_for "$backend" "$WORK" "tessera_soak_$backend")
    TESSERA_KEK="$KEK" "$bin" serve --bind "127.0.0.1:$PORT" --database-url "$DB_URL" "${RETAIN[@]}" \
      --webhook-allow-private --webhook-allow-http > "$WORK/server.log" 2>&1 &
    SERVER=$!
    wait_listening "$WORK/server.log" "$SERVER"
    KEY=$(f=$(sed -n 's/^tessera wrote the first API key to //p' "$WORK/server.log" | head -1); cat "$f"; rm -f "$f")
    db="$DB_URL"; [ "$backend" = sqlite ] && db="$WORK/t.db"
    (rc=0; python3 bench/soak.py "$backend" "http://127.0.0.1:$PORT" "$KEY" "$SERVER" "$db" "$out/soak-$backend.tsv" || rc=$?
     echo "$rc" > "$out/soak-$backend.rc"; kill "$SERVER"; wait "$SERVER" || true; rm -rf "$WORK"
     [ "$backend" = postgres ] && psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS tessera_soak_$backend" || true) &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p"; done
fi

if [[ " $PHASES " == *" p99 "* ]]; then
  printf "backend\tpruning\trps\tp50_us\tp99_us\tp999_us\tpruned\terrors\n" > "$out/soak-p99.tsv"
  for backend in $BACKENDS; do
    for pruning in off on; do
      WORK=$(mktemp -d); PORT=$(free_port); DB_URL=$(db_for "$backend" "$WORK" tessera_soak_p99)
      TESSERA_KEK="$KEK" "$bin" serve --bind "127.0.0.1:$PORT" --database-url "$DB_URL" > "$WORK/first" 2>&1 &
      PID=$!; wait_listening "$WORK/first" "$PID"
      TESSERA_KEY=$(f=$(sed -n 's/^tessera wrote the first API key to //p' "$WORK/first" | head -1); cat "$f"; rm -f "$f"); export TESSERA_KEY
      kill "$PID"; wait "$PID" || true
      # 1,000 connections (with ids of tessera's shape: 26 Crockford characters), and a backlog of issuance records expired a day ago for the
      # pruner to work through while the load runs.
      old=$(( $(date +%s) - 86400 ))
      if [ "$backend" = sqlite ]; then
        python3 - "$WORK/t.db" "$BACKLOG" "$old" <<'EOF'
import sqlite3, sys
db, n, old = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
con = sqlite3.connect(db)
con.execute("PRAGMA synchronous=OFF")
client = con.execute("SELECT id FROM clients ORDER BY created_at LIMIT 1").fetchone()[0]
con.executemany("INSERT INTO connections (id, client_id, customer_id, retailer_id, status, created_at, updated_at)"
                " VALUES (?, ?, ?, 'walmart', 'active', 0, 0)", ((f"01BENCH{i:019d}", client, f"cust-{i}") for i in range(1000)))
for start in range(0, n, 100_000):
    con.executemany("INSERT INTO issued_tokens (jti, connection_id, client_id, api_key_id, kid, issued_at, expires_at)"
                    " VALUES (?, ?, 'c', 'k', 'kid', ?, ?)",
                    ((f"0old{i:012d}", f"01BENCH{i % 1000:019d}", old - 900, old) for i in range(start, min(n, start + 100_000))))
    con.commit()
EOF
      else
        psql "$DB_URL" -qc "INSERT INTO connections (id, client_id, customer_id, retailer_id, status, created_at, updated_at)
            SELECT '01BENCH' || lpad(i::text, 19, '0'), (SELECT id FROM clients LIMIT 1), 'cust-' || i, 'walmart', 'active', 0, 0
            FROM generate_series(0, 999) AS i" \
          -c "INSERT INTO issued_tokens (jti, connection_id, client_id, api_key_id, kid, issued_at, expires_at)
            SELECT '0old' || lpad(i::text, 12, '0'), '01BENCH' || lpad((i % 1000)::text, 19, '0'), 'c', 'k', 'kid', $old - 900, $old
            FROM generate_series(0, $BACKLOG - 1) AS i" -c "VACUUM ANALYZE" >/dev/null
      fi
      interval=0; [ "$pruning" = on ] && interval=1
      TESSERA_KEK="$KEK" "$bin" serve --bind "127.0.0.1:$PORT" --database-url "$DB_URL" --rate-limit 10000000 \
        --rate-burst 10000000 --retention-issuance 60 --prune-interval "$interval" --log-format json > "$WORK/server.log" 2>&1 &
      PID=$!; wait_listening "$WORK/server.log" "$PID"
      sleep 2
      line=$(BENCH_N=1000 BENCH_ID_FORMAT='01BENCH%019d' wrk -t2 -c16 -d"$P99_DURATION" --latency -s bench/token.lua "http://127.0.0.1:$PORT" | grep '^RESULT')
      pruned=$(curl -s "http://127.0.0.1:$PORT/metrics" | awk '/^tessera_retention_pruned_rows_total\{table="issued_tokens"\}/ {print $2}')
      f() { sed -E "s/.*$1=([0-9]+).*/\\1/" <<<"$line"; }
      printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n" "$backend" "$pruning" \
        $(( $(f requests) * 1000000 / $(f duration_us) )) "$(f p50_us)" "$(f p99_us)" "$(f p999_us)" "${pruned:-0}" \
        "$(f errors_status)" | tee -a "$out/soak-p99.tsv"
      kill "$PID"; wait "$PID" || true
      rm -rf "$WORK"
      [ "$backend" = postgres ] && psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS tessera_soak_p99" >/dev/null
    done
  done
fi

python3 bench/soak_report.py "$out" > bench/soak.md
python3 - <<'EOF'
import re
text = open("BENCHMARKS.md").read()
soak = open("bench/soak.md").read().rstrip() + "\n"
start, end = "<!-- soak -->\n", "<!-- /soak -->\n"
section = start + soak + end
text = re.sub(re.escape(start) + ".*?" + re.escape(end), lambda _: section, text, flags=re.S) if start in text \
    else text.rstrip() + "\n\n" + section
open("BENCHMARKS.md", "w").write(text)
EOF
cat bench/soak.md
for backend in $BACKENDS; do
  [ ! -f "$out/soak-$backend.rc" ] || [ "$(cat "$out/soak-$backend.rc")" = 0 ] || { echo "soak $backend failed"; exit 1; }
done
