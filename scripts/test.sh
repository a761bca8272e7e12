#!/usr/bin/env bash
# Runs every test suite: the manual's checks (scripts/docs.sh), unit, HTTP (both backends),
# storage conformance (both backends), the process tests, then the contract checks
# (scripts/contract.sh). PostgreSQL suites need a server at TESSERA_TEST_POSTGRES_URL
# (default postgres://postgres@127.0.0.1:5432/test); without one they are skipped here, and fail under CI (CI set to anything but empty, 0,
# false or no: see scripts/ci.sh). Arguments go to the test runner (a filter, say); outside
# CI they also leave out the contract checks, under CI those always run.
set -uo pipefail
cd "$(dirname "$0")/.."
. scripts/ci.sh

pg_url="${TESSERA_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}"
hostport="${pg_url#*://}"; hostport="${hostport#*@}"; hostport="${hostport%%/*}"
host="${hostport%%:*}"; port="${hostport##*:}"; [ "$port" = "$hostport" ] && port=5432
if ! (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; then
  echo "================================================================================"
  if must_run_everything; then
    echo "PostgreSQL is not reachable at $host:$port and CI=$CI: the PostgreSQL suites will FAIL."
  else
    echo "PostgreSQL is not reachable at $host:$port: the PostgreSQL suites will be SKIPPED."
    echo "To run them, start PostgreSQL (trust auth, database 'test') or point"
    echo "TESSERA_TEST_POSTGRES_URL at one, then run this script again."
  fi
  echo "================================================================================"
fi

status=0
# Migrations stay expand-then-contract against the previous release (RELEASES).
scripts/check-migrations.sh || status=1
# The manual: the configuration chapter matches the flags, no broken link, the book builds.
scripts/docs.sh || status=1
# The previous release's binary, for the rolling-upgrade test (built once, then reused; about
# 5 minutes of a 2-core machine the first time).
if ! scripts/previous-release.sh >/dev/null; then
  echo "the previous release could not be built: the rolling-upgrade test will fail under CI, skip otherwise"
  must_run_everything && status=1
fi
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --no-fail-fast "$@" || status=1
else
  cargo test --no-fail-fast "$@" || status=1
fi

# The contract checks against the reference stack, the OpenAPI validator, schemathesis and a
# browser (skipped with a message where Python or Chromium is missing; failing under CI).
if [ $# -eq 0 ] || must_run_everything; then
  scripts/contract.sh || status=1
else
  echo "contract checks SKIPPED: arguments were given; run ./scripts/test.sh without any for them"
fi
exit $status
