#!/usr/bin/env bash
# What one token costs the database, for docs/src/operators/scaling.md: bytes per issuance row (with
# real-sized ids) on PostgreSQL and SQLite, WAL bytes per token on PostgreSQL under load, and
# how long migration 0010's index takes to build per million rows.
#
#   bench/storage_costs.sh            # ROWS=1000000 rows; BENCH_PG as in bench/run.sh
#
# The WAL figure is the server-wide WAL position's advance over the run divided by the tokens
# minted, so other work on the same PostgreSQL server inflates it: run it on a quiet one.
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS="${ROWS:-1000000}"
PG="${BENCH_PG:-postgres://postgres@127.0.0.1:5432}"
KEK="YmVuY2htYXJrLWtlay1ub3QtZm9yLXByb2R1Y3Rpb24="
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
cargo build --release --quiet
bin=target/release/tessera
WORK=$(mktemp -d)
DB=tessera_storage_costs
trap 'rm -rf "$WORK"; psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null' EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# serve URL LOG [FLAGS...]: starts a server in the background, sets PID and PORT.
serve() {
  PORT=$(free_port)
  TESSERA_KEK="$KEK" "$bin" serve --bind "127.0.0.1:$PORT" --database-url "$1" --prune-interval 0 \
    --rate-limit 10000000 --rate-burst 10000000 "${@:3}" > "$2" 2>&1 &
  PID=$!
  for _ in $(seq 300); do grep -q listening "$2" 2>/dev/null && return 0; sleep 0.1; done
  cat "$2"; return 1
}

# Rows with real-sized values: 26-character ULIDs for every id, issued 10 ms apart.
python3 - "$ROWS" > "$WORK/rows.tsv" <<'EOF'
import random, sys
A = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
r = random.Random(1)
def ulid(ms):
    s = ""
    for _ in range(10):
        s = A[ms % 32] + s; ms //= 32
    return s + "".join(r.choice(A) for _ in range(16))
conns = [ulid(1700000000000) for _ in range(10000)]
client, key, kid = ulid(1), ulid(2), ulid(3)
for i in range(int(sys.argv[1])):
    ms = 1764300000000 + i * 10
    print("\t".join(map(str, (ulid(ms), r.choice(conns), client, key, kid, ms // 1000, ms // 1000 + 900, f"cust-{r.randrange(10**6)}"))))
EOF

psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB" >/dev/null
serve "$PG/$DB" "$WORK/pg.log"; kill "$PID"; wait "$PID" || true
psql "$PG/$DB" -qc "DROP INDEX issued_tokens_by_expiry" \
  -c "\\copy issued_tokens (jti, connection_id, client_id, api_key_id, kid, issued_at, expires_at, customer_id) FROM '$WORK/rows.tsv'" >/dev/null
index_ms=$(psql "$PG/$DB" -qAt -c '\timing on' -c "CREATE INDEX issued_tokens_by_expiry ON issued_tokens (expires_at)" \
  | sed -nE 's/^Time: ([0-9.]+) ms.*/\1/p')
psql "$PG/$DB" -qc "VACUUM ANALYZE issued_tokens" >/dev/null
echo "PostgreSQL bytes per issuance row ($ROWS rows):"
psql "$PG/$DB" -At -F $'\t' -c "SELECT 'heap', round(pg_relation_size('issued_tokens') / $ROWS.0)
  UNION ALL SELECT indexrelid::regclass::text, round(pg_relation_size(indexrelid) / $ROWS.0) FROM pg_index
    WHERE indrelid = 'issued_tokens'::regclass
  UNION ALL SELECT 'total', round(pg_total_relation_size('issued_tokens') / $ROWS.0)"
echo "migration 0010's expires_at index: $index_ms ms for $ROWS rows"

# WAL per token: 10 s of tokens for 1,000 connections.
psql "$PG/$DB" -qc "INSERT INTO connections (id, client_id, customer_id, retailer_id, status, created_at, updated_at)
    SELECT '01BENCH' || lpad(i::text, 19, '0'), (SELECT id FROM clients LIMIT 1), 'cust-' || i, 'walmart', 'active', 0, 0
    FROM generate_series(0, 999) AS i" >/dev/null
serve "$PG/$DB" "$WORK/pg2.log"
TESSERA_KEY=$(f=$(sed -n 's/^tessera wrote the first API key to //p' "$WORK/pg.log" | head -1); cat "$f"; rm -f "$f")
export TESSERA_KEY
for conns in 16 256; do
  before=$(psql "$PG/$DB" -At -c "SELECT pg_current_wal_lsn()")
  minted0=$(curl -s "http://127.0.0.1:$PORT/metrics" | awk '/^tessera_tokens_minted_total/ {print $2}')
  BENCH_N=1000 BENCH_ID_FORMAT='01BENCH%019d' wrk -t2 -c"$conns" -d10s -s bench/token.lua "http://127.0.0.1:$PORT" >/dev/null
  minted1=$(curl -s "http://127.0.0.1:$PORT/metrics" | awk '/^tessera_tokens_minted_total/ {print $2}')
  after=$(psql "$PG/$DB" -At -c "SELECT pg_current_wal_lsn()")
  wal=$(psql "$PG/$DB" -At -c "SELECT pg_wal_lsn_diff('$after', '$before')")
  echo "WAL per token, $conns connections: $(( ${wal%.*} / (minted1 - minted0) )) bytes ($(( minted1 - minted0 )) tokens)"
done
kill "$PID"; wait "$PID" || true

# SQLite: the same rows in a migrated file.
serve "sqlite://$WORK/t.db" "$WORK/sq.log"; kill "$PID"; wait "$PID" || true
python3 - "$WORK/t.db" "$WORK/rows.tsv" <<'EOF'
import sqlite3, sys
con = sqlite3.connect(sys.argv[1])
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[2])]
con.executemany("INSERT INTO issued_tokens (jti, connection_id, client_id, api_key_id, kid, issued_at, expires_at, customer_id)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
con.commit()
print(f"SQLite bytes per issuance row ({len(rows)} rows):")
for name, size in con.execute("SELECT name, SUM(pgsize) FROM dbstat WHERE name LIKE 'issued_tokens%' GROUP BY name"):
    print(f"{name}\t{round(size / len(rows))}")
EOF
