#!/usr/bin/env bash
# Runs every test suite: unit, HTTP (both backends), storage conformance (both backends),
# and the process tests. PostgreSQL suites need a server at TESSERA_TEST_POSTGRES_URL
# (default postgres://postgres@127.0.0.1:5432/test); without one they are skipped here,
# and fail under CI=true.
set -uo pipefail
cd "$(dirname "$0")/.."

pg_url="${TESSERA_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}"
hostport="${pg_url#*://}"; hostport="${hostport#*@}"; hostport="${hostport%%/*}"
host="${hostport%%:*}"; port="${hostport##*:}"; [ "$port" = "$hostport" ] && port=5432
if ! (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; then
  echo "================================================================================"
  if [ "${CI:-}" = "true" ]; then
    echo "PostgreSQL is not reachable at $host:$port and CI=true: the PostgreSQL suites will FAIL."
  else
    echo "PostgreSQL is not reachable at $host:$port: the PostgreSQL suites will be SKIPPED."
    echo "To run them, start PostgreSQL (trust auth, database 'test') or point"
    echo "TESSERA_TEST_POSTGRES_URL at one, then run this script again."
  fi
  echo "================================================================================"
fi

if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --no-fail-fast "$@"
else
  cargo test --no-fail-fast "$@"
fi
