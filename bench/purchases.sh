#!/usr/bin/env bash
# A page of purchases with 10,000,000 purchases in the database: p50/p99/p99.9 of
# GET /connections/{id}/purchases (API key + access token checked on every request, limit 50,
# a quarter first pages and the rest after a random purchase of the connection).
#
#   bench/purchases.sh                       # SQLite and PostgreSQL
#   BENCH_BACKENDS=sqlite bench/purchases.sh
#
# Environment: BENCH_PURCHASES (10000000 in all), BENCH_HOT (100000 of them the measured
# connection's, the rest spread 1,000 per connection), BENCH_DURATION (10s), BENCH_CONNS (4),
# BENCH_LIMIT (50), BENCH_BIN (a tessera binary; default: a release build), BENCH_PG (default
# postgres://postgres@127.0.0.1:5432; a database is created and dropped).
#
# Seeding is plain SQL into the stopped server's database (sqlite3, psql); the SQLite log is
# checkpointed, the PostgreSQL table vacuumed (so no autovacuum runs during the measurement)
# and everything synced before the server starts again. The connection, the connector's
# batch, the token and every measured request go through the API. After a 3 s warm-up, prints
# one line per backend, as BENCHMARKS.md shows it.
set -euo pipefail
cd "$(dirname "$0")/.."
TOTAL="${BENCH_PURCHASES:-10000000}"
HOT="${BENCH_HOT:-100000}"
DURATION="${BENCH_DURATION:-10s}"
CONNS="${BENCH_CONNS:-4}"
LIMIT="${BENCH_LIMIT:-50}"
BACKENDS="${BENCH_BACKENDS:-sqlite postgres}"
PG="${BENCH_PG:-postgres://postgres@127.0.0.1:5432}"
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
if [ -z "${BENCH_BIN:-}" ]; then cargo build --release --quiet; fi
bin="${BENCH_BIN:-$PWD/target/release/tessera}"
echo "| backend | purchases | the connection's | limit | conns | req/s | p50 ms | p99 ms | p99.9 ms | seeding |"
echo "|---|---|---|---|---|---|---|---|---|---|"
export TESSERA_KEK="YmVuY2htYXJrLWtlay1ub3QtZm9yLXByb2R1Y3Rpb24="
WORK=$(mktemp -d)
PID=""
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
field() { sed -E "s/.*$1=([0-9]+).*/\\1/" <<<"$2"; }
sep() { python3 -c "print(f'{$1:,}')"; }
ms() { awk -v us="$1" 'BEGIN { printf "%.2f", us / 1000 }'; }

# serve: starts tessera on DB_URL; sets PID and PORT; the bootstrap key lands in $WORK/log.
serve() {
  PORT=$(free_port)
  : > "$WORK/log"
  "$bin" serve --bind "127.0.0.1:$PORT" --database-url "$DB_URL" --token-ttl 86400 \
    --rate-limit 10000000 --rate-burst 10000000 --log-format json > "$WORK/log" 2>&1 &
  PID=$!
  for _ in $(seq 200); do grep -q "listening on" "$WORK/log" && return; sleep 0.1; done
  echo "tessera did not start: $(cat "$WORK/log")" >&2; exit 1
}
stop() { kill "$PID"; wait "$PID" 2>/dev/null || true; PID=""; }
api() { curl -sf -X "$1" "http://127.0.0.1:$PORT$2" -H "X-Api-Key: $3" -H 'Content-Type: application/json' ${4:+-d "$4"}; }

# The bulk rows, as one SQL statement for either backend: $TOTAL - 1 purchases, $HOT - 1 of
# them the measured connection's (ids hot-%08d) and the rest 1,000 to a connection; the
# measured connection's last purchase the connector writes through the API. A minute apart.
# seed_sql CONN CLIENT SERIES PAD8(expr) DATE(expr)
seed_sql() {
  cat <<SQL
INSERT INTO purchases (connection_id, purchase_id, client_id, date, date_key, total, tax, subtotal, item_count, items, created_at, updated_at)
SELECT CASE WHEN i < $HOT - 1 THEN '$1' ELSE 'bench-' || $(printf "$4" "i / 1000") END,
       CASE WHEN i < $HOT - 1 THEN 'hot-' || $(printf "$4" i) ELSE 'p-' || i END,
       '$2', $5, 1735689600000000 + i * 60000000, '12.34', '0.99', '11.35', 1,
       '[{"item_id":"i","price":"11.35","quantity":1,"product":null}]', 0, 0
FROM $3;
SQL
}

for backend in $BACKENDS; do
  case $backend in
    sqlite) DB_URL="sqlite://$WORK/bench.db" ;;
    postgres)
      name="tessera_purchases_bench_$$"
      PGOPTIONS='-c client_min_messages=warning' psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS $name" -c "CREATE DATABASE $name" >/dev/null
      DB_URL="$PG/$name" ;;
  esac
  serve
  key=$(f=$(sed -n 's/^tessera wrote the first API key to //p' "$WORK/log" | head -1); cat "$f"; rm -f "$f")
  connector=$("$bin" connector create --name bench --json --database-url "$DB_URL" | python3 -c 'import json,sys; print(json.load(sys.stdin)["credential"])')
  conn=$(api POST /connections "$key" '{"customer_id":"bench","retailer_id":"walmart"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["connection_id"])')
  api PUT "/connector/connections/$conn/purchases" "$connector" \
    "{\"purchases\":[{\"purchase_id\":\"hot-$(printf %08d $((HOT - 1)))\",\"date\":\"2025-12-31\",\"total\":\"1.00\"}]}" >/dev/null
  token=$(api POST "/connection/$conn/token" "$key" '{"scope":"access"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["connection_token"])')
  client=$(grep -o '"client_id":"[^"]*"' <<<"$(api POST /tokens/introspect "$key" "{\"token\":\"$token\"}")" | cut -d'"' -f4)
  stop
  start=$(date +%s)
  case $backend in
    sqlite)
      sqlite3 "$WORK/bench.db" "PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF;" \
        "$(seed_sql "$conn" "$client" \
            "(WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s WHERE i < $TOTAL - 2) SELECT i FROM s)" \
            "printf('%%08d', %s)" "strftime('%Y-%m-%dT%H:%M:%SZ', 1735689600 + i * 60, 'unixepoch')")" \
        "ANALYZE;" "PRAGMA wal_checkpoint(TRUNCATE);" >/dev/null ;;
    postgres)
      psql "$DB_URL" -q -v ON_ERROR_STOP=1 \
        -c "$(seed_sql "$conn" "$client" "generate_series(0::bigint, $TOTAL - 2) AS i" "lpad((%s)::text, 8, '0')" \
              "to_char(to_timestamp(1735689600 + i * 60) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')")" \
        -c "VACUUM ANALYZE purchases" >/dev/null ;;
  esac
  # Written out, so the measurement is not of the kernel flushing the seeding's pages.
  sync
  seeded=$(( $(date +%s) - start ))
  serve
  # A short warm-up, not measured: the measurement is of a server in its steady state.
  TESSERA_KEY="$key" BENCH_TOKEN="$token" BENCH_CONN="$conn" BENCH_HOT="$HOT" BENCH_LIMIT="$LIMIT" \
    wrk -t2 -c"$CONNS" -d3s -s bench/purchases.lua "http://127.0.0.1:$PORT" >/dev/null
  line=$(TESSERA_KEY="$key" BENCH_TOKEN="$token" BENCH_CONN="$conn" BENCH_HOT="$HOT" BENCH_LIMIT="$LIMIT" \
    wrk -t2 -c"$CONNS" -d"$DURATION" --latency -s bench/purchases.lua "http://127.0.0.1:$PORT" | grep '^RESULT')
  stop
  [ "$backend" = postgres ] && psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS $name WITH (FORCE)" >/dev/null
  rps=$(( $(field requests "$line") * 1000000 / $(field duration_us "$line") ))
  printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %ss |\n" "$backend" \
    "$(sep "$TOTAL")" "$(sep "$HOT")" "$LIMIT" "$CONNS" "$rps" \
    "$(ms "$(field p50_us "$line")")" "$(ms "$(field p99_us "$line")")" "$(ms "$(field p999_us "$line")")" "$seeded"
  [ "$(field errors_status "$line")" = 0 ] || { echo "non-2xx answers: $line" >&2; exit 1; }
done
