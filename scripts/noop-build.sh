#!/usr/bin/env bash
# Checks that a build with nothing changed compiles nothing: a build script that watches a
# file that does not exist (cargo counts it as changed) would rebuild tessera every time,
# costing minutes of every test run and benchmark on two cores.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --quiet "$@"
stale=$(cargo build --message-format=json "$@" 2>/dev/null | python3 -c '
import json, sys
for line in sys.stdin:
    try:
        m = json.loads(line)
    except ValueError:
        continue
    if m.get("reason") == "compiler-artifact" and not m.get("fresh"):
        print(m["target"]["name"])
')
if [ -n "$stale" ]; then
  echo "a second 'cargo build' with nothing changed compiled again: $stale" >&2
  CARGO_LOG=cargo::core::compiler::fingerprint=info cargo build "$@" 2>&1 | grep -i "stale" | head -5 >&2 || true
  exit 1
fi
echo "no-op build: nothing compiled the second time"
