#!/usr/bin/env bash
# The operator console with a million connections: how long its pages take to answer, on
# SQLite and PostgreSQL. Prints one line per backend and page (median and slowest of
# BENCH_CONSOLE_RUNS requests, made one at a time with curl) and the lines for BENCHMARKS.md.
#
#   bench/console.sh
#
# Environment: BENCH_BIN (a tessera binary; default: a release build), BENCH_CONSOLE_N (1000000 connections), BENCH_CONSOLE_RUNS (20),
# BENCH_BACKENDS ("sqlite postgres"), BENCH_PG (a PostgreSQL server URL without database,
# default postgres://postgres@127.0.0.1:5432; a database is created and dropped).
#
# The connections are written straight into a stopped server's database (sqlite3, psql),
# 5 per customer id, spread over the four statuses, ids increasing as tessera's do.
set -euo pipefail
cd "$(dirname "$0")/.."
N="${BENCH_CONSOLE_N:-1000000}"
RUNS="${BENCH_CONSOLE_RUNS:-20}"
BACKENDS="${BENCH_BACKENDS:-sqlite postgres}"
PG="${BENCH_PG:-postgres://postgres@127.0.0.1:5432}"
export TESSERA_KEK="YmVuY2htYXJrLWtlay1ub3QtZm9yLXByb2R1Y3Rpb24="
command -v sqlite3 >/dev/null || { apt-get update -qq && apt-get install -y -qq sqlite3 >/dev/null; }
if [ -z "${BENCH_BIN:-}" ]; then cargo build --release --quiet; fi
bin="${BENCH_BIN:-$PWD/target/release/tessera}"
work=$(mktemp -d)
pid=
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  [ -n "${pgdb:-}" ] && psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS $pgdb WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

start() { # start URL PORT
  TESSERA_DATABASE_URL="$1" "$bin" serve --bind "127.0.0.1:$2" >"$work/serve.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 200); do grep -q "tessera listening on" "$work/serve.log" && return; sleep 0.1; done
  echo "tessera did not start:" >&2; cat "$work/serve.log" >&2; exit 1
}
stop() { kill "$pid"; wait "$pid" 2>/dev/null || true; pid=; }

# The rows, as SQL both databases take: ids are "01J0" and 22 hexadecimal digits, increasing.
seed_sql() { # seed_sql CLIENT_ID
  cat <<SQL
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $N)
INSERT INTO connections (id, client_id, customer_id, retailer_id, email, mobile, status, created_at, updated_at)
SELECT printf('01J0%022X', i), '$1', 'cust-' || (i % ($N / 5)), 'walmart', NULL, NULL,
       CASE i % 10 WHEN 0 THEN 'disconnected' WHEN 1 THEN 'unauthenticated' WHEN 2 THEN 'initialized' ELSE 'active' END,
       1700000000 + i, 1700000000 + i
FROM n;
SQL
}
seed_pg_sql() { # seed_pg_sql CLIENT_ID
  cat <<SQL
INSERT INTO connections (id, client_id, customer_id, retailer_id, email, mobile, status, created_at, updated_at)
SELECT '01J0' || lpad(upper(to_hex(i)), 22, '0'), '$1', 'cust-' || (i % ($N / 5)), 'walmart', NULL, NULL,
       CASE i % 10 WHEN 0 THEN 'disconnected' WHEN 1 THEN 'unauthenticated' WHEN 2 THEN 'initialized' ELSE 'active' END,
       1700000000 + i, 1700000000 + i
FROM generate_series(1, $N) AS i;
VACUUM ANALYZE connections;
SQL
}

# time_page NAME PATH: RUNS requests; prints "median_ms max_ms".
time_page() {
  local times=()
  curl -s -o /dev/null -b "$cookie" "$base$2" # warm
  for _ in $(seq 1 "$RUNS"); do
    times+=("$(curl -s -o /dev/null -w '%{http_code} %{time_total}\n' -b "$cookie" "$base$2")")
  done
  printf '%s\n' "${times[@]}" | python3 -c '
import sys
rows = [l.split() for l in sys.stdin if l.strip()]
bad = [c for c, _ in rows if c != "200"]
if bad: sys.exit("status " + bad[0])
t = sorted(float(s) * 1000 for _, s in rows)
print(f"{t[len(t) // 2]:.1f} {t[-1]:.1f}")'
}

lines=()
for backend in $BACKENDS; do
  port=$(free_port)
  base="http://127.0.0.1:$port"
  if [ "$backend" = sqlite ]; then
    url="sqlite://$work/console.db"
  else
    pgdb="console_bench_$$"
    psql "$PG/postgres" -qc "CREATE DATABASE $pgdb" >/dev/null
    url="$PG/$pgdb"
  fi
  start "$url" "$port"; stop
  if [ "$backend" = sqlite ]; then
    client=$(sqlite3 "$work/console.db" "SELECT id FROM clients LIMIT 1")
    seed_sql "$client" | sqlite3 "$work/console.db"
    sqlite3 "$work/console.db" "ANALYZE"
  else
    client=$(psql "$url" -Atc "SELECT id FROM clients LIMIT 1")
    seed_pg_sql "$client" | psql "$url" -q >/dev/null
  fi
  echo "$backend: seeded $N connections" >&2
  start "$url" "$port"
  printf 'a long enough benchmark password' | TESSERA_DATABASE_URL="$url" "$bin" operator create bench --password-stdin >/dev/null
  cookie=$(curl -s -D - -o /dev/null --data 'name=bench&password=a+long+enough+benchmark+password' "$base/console/sign-in" \
    | sed -n 's/^set-cookie: \(tessera_console=[^;]*\).*/\1/Ip')
  [ -n "$cookie" ] || { echo "could not sign in" >&2; exit 1; }
  ms() { python3 -c 'import sys; print(f"{float(sys.stdin.read())*1000:.1f}")'; }
  # The first view of the overview starts counting every connection and waits at most 50 ms
  # for it (a slow count is then shown when done, and recounted in the background once 5 s old).
  # (After one other page, so that the database connections are open.)
  curl -s -o /dev/null -b "$cookie" "$base/console/audit"
  first=$(curl -s -o /dev/null -w '%{time_total}' -b "$cookie" "$base/console" | ms)
  echo "$backend  overview, first view (counts read): ${first} ms" >&2
  lines+=("| $backend | $N | overview, first view after start (starts the count) | $first | $first |")
  mid=$(printf '01J0%022X' $((N / 2)))
  for page in \
    "first page|/console/connections" \
    "by customer id|/console/connections?q=cust-12345" \
    "by status|/console/connections?status=unauthenticated" \
    "by status, page at the middle|/console/connections?status=initialized&before=$mid" \
    "by connection id|/console/connections?q=$mid" \
    "a connection|/console/connections/$mid" \
    "overview|/console"; do
    name=${page%%|*}; path=${page#*|}
    read -r median max < <(time_page "$name" "$path")
    echo "$backend  $name: median ${median} ms, slowest ${max} ms" >&2
    lines+=("| $backend | $N | $name | $median | $max |")
  done
  # Counts 5 s old: this view starts a background recount and does not wait for it.
  sleep 5.5
  stale=$(curl -s -o /dev/null -w '%{time_total}' -b "$cookie" "$base/console" | ms)
  echo "$backend  overview, counts recounted in the background: ${stale} ms" >&2
  lines+=("| $backend | $N | overview, while its counts are recounted in the background | $stale | $stale |")
  stop
  [ "$backend" = postgres ] && psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS $pgdb WITH (FORCE)" >/dev/null && pgdb=
done

echo
echo "| backend | connections | console page | median ms | slowest ms |"
echo "|---|---|---|---|---|"
printf '%s\n' "${lines[@]}"
