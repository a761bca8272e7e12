#!/usr/bin/env bash
# The contract checks, run against a real tessera binary:
#   - the differential test against the reference FastAPI implementation,
#   - OpenAPI validation of the served document,
#   - schemathesis fuzzing of every operation,
#   - Subtotal's published SDK (subtotal-ai-toolkit, unmodified) against a live server,
#   - a stock OAuth client (Authlib) introspecting and revoking with its default client
#     authentication,
#   - partner apps end to end: node oidc-provider (npm, tests/oauth/package-lock.json) issuing
#     RS256 JWT access tokens by client credentials and by authorization code with PKCE, and
#     opaque ones, that mint connection tokens on both backends, and the tokens tessera refuses,
#   - several trusted issuers (three oidc-provider servers logging their requests): an opaque
#     token reaches only its own issuer, a misconfigured or unreachable issuer fails only its
#     tokens and is asked once per backoff,
#   - /docs and /redoc rendered in headless Chromium through Playwright, every request off
#     loopback aborted and failing the check (screenshots in target/artifacts/, made anew),
#   - the operator console's flows in headless Chromium on SQLite and PostgreSQL, with
#     axe-core (npm, tests/console/package-lock.json) on every page (screenshots in
#     target/artifacts/console/),
#   - the hosted Link flow in headless Chromium on SQLite and PostgreSQL, as a customer goes
#     through it between real tessera serve, tessera sandbox and webhook receiver processes,
#     with axe-core on every Link and sandbox page (screenshots in target/artifacts/link/).
# Needs Python 3 with venv (packages from PyPI, installed into target/contract-venv) and
# Chromium. Where either is missing they are skipped with a message; under CI (CI set to
# anything but empty, 0, false or no: see scripts/ci.sh) they fail.
set -uo pipefail
cd "$(dirname "$0")/.."
. scripts/ci.sh

skip_or_fail() {
  if must_run_everything; then
    echo "contract checks: $1 and CI=$CI: failing." >&2
    exit 1
  fi
  echo "contract checks SKIPPED: $1"
  exit 0
}

venv=target/contract-venv
py="$venv/bin/python"
# (Re)install whenever requirements.txt differs from what the venv was built from.
if ! cmp -s tests/contract/requirements.txt "$venv/requirements.installed"; then
  [ -x "$py" ] || python3 -m venv "$venv" >/dev/null 2>&1 || skip_or_fail "cannot create a Python venv (python3 -m venv)"
  "$py" -m pip install -q -r tests/contract/requirements.txt || skip_or_fail "cannot install tests/contract/requirements.txt from PyPI"
  cp tests/contract/requirements.txt "$venv/requirements.installed"
fi

cargo build --quiet || exit 1
bin=target/debug/tessera
failed=0

echo "== differential test against the reference FastAPI implementation"
"$py" tests/contract/differential.py "$bin" || failed=1

echo "== OpenAPI validation"
"$py" tests/contract/openapi_check.py "$bin" || failed=1

echo "== schemathesis"
HERE="$PWD/tests/contract" SCHEMATHESIS_EXAMPLES="${SCHEMATHESIS_EXAMPLES:-100}" \
  tests/contract/schemathesis_check.sh "$py" "$bin" || failed=1

echo "== the manual's verifier examples (Python, Node) against a live server"
"$py" tests/contract/verifiers_check.py "$bin" || failed=1

echo "== a stock OAuth client (Authlib) on introspection and revocation"
"$py" tests/contract/oauth_client_check.py "$bin" || failed=1

# optional NAME COMMAND...: a check that exits 2 when this machine cannot run it (no node,
# no chromium): a skip outside CI, a failure under it.
optional() {
  local name=$1
  shift
  "$@"
  case $? in
    0) ;;
    2) if must_run_everything; then failed=1; else echo "$name SKIPPED: see the message above"; fi ;;
    *) failed=1 ;;
  esac
}

echo "== partner apps end to end: a real authorization server (oidc-provider), SQLite and PostgreSQL"
optional "partner e2e" "$py" tests/oauth/partner_e2e.py "$bin"

echo "== several trusted issuers: three oidc-provider servers, opaque tokens routed to one, a broken issuer backed off"
optional "multi-issuer e2e" "$py" tests/oauth/multi_issuer_e2e.py "$bin"

echo "== Subtotal's SDK (subtotal-ai-toolkit) against a live tessera, SQLite and PostgreSQL"
"$py" tests/contract/sdk_check.py "$bin" || failed=1

echo "== /docs and /redoc in headless Chromium"
optional "browser check" "$py" tests/contract/browser_check.py "$bin" target/artifacts

echo "== the operator console and the hosted Link flow in headless Chromium (SQLite, then PostgreSQL)"
for backend in sqlite postgres; do
  optional "console check ($backend)" "$py" tests/console/console_check.py "$bin" target/artifacts/console "$backend"
  optional "link check ($backend)" "$py" tests/console/link_check.py "$bin" target/artifacts/link "$backend"
done

if [ "$failed" -ne 0 ]; then
  echo "contract checks: FAILED"
  exit 1
fi
echo "contract checks: all passed"
