#!/usr/bin/env bash
# Checks the manual (docs/, an mdBook) and README.md, failing on the first kind of problem:
#   1. the configuration chapter differs from what scripts/config-doc.py makes from the built
#      binary's `serve --help` and `config example` (run `scripts/docs.sh --write` to update it);
#   2. a page missing from SUMMARY.md, a relative link or #anchor that does not resolve, in the
#      book or the README, or a test named in the claims table that does not exist
#      (scripts/check-book.py);
#   3. `mdbook build docs` fails (the book goes to target/book/). Without mdbook this step is
#      skipped with a message, and fails under CI (.ci/run installs it).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/ci.sh

page=docs/src/operators/configuration.md
cargo build --quiet --bin tessera
binary="${CARGO_TARGET_DIR:-target}/debug/tessera"
if [ "${1:-}" = "--write" ]; then
  scripts/config-doc.py "$binary" > "$page"
  echo "wrote $page"
fi
fresh="$(mktemp)"
trap 'rm -f "$fresh"' EXIT
scripts/config-doc.py "$binary" > "$fresh"
if ! diff -u "$page" "$fresh"; then
  echo "FAIL: $page is stale: the flags changed. Run scripts/docs.sh --write and commit it." >&2
  exit 1
fi
echo "docs: $page matches tessera serve --help"

python3 scripts/check-book.py

if ! command -v mdbook >/dev/null 2>&1; then
  if must_run_everything; then
    echo "FAIL: mdbook is not installed and CI=$CI (cargo install mdbook --locked)" >&2
    exit 1
  fi
  echo "docs: mdbook not installed: the book build is SKIPPED (cargo install mdbook --locked)"
  exit 0
fi
# mdbook reports a page it cannot read or render as an error; warnings are failures too.
log="$(mktemp)"
trap 'rm -f "$fresh" "$log"' EXIT
if ! mdbook build docs 2>&1 | tee "$log"; then
  echo "FAIL: mdbook build docs" >&2
  exit 1
fi
if grep -E '(ERROR|WARN)' "$log"; then
  echo "FAIL: mdbook build docs printed errors or warnings" >&2
  exit 1
fi
echo "docs: the book is in target/book/index.html"
