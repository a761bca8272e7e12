#!/usr/bin/env bash
# The Debian package, installed for real (as root, on a Debian machine; it changes the
# machine: it installs the package and leaves a `tessera` system user): build it
# (scripts/deb.sh), `dpkg -i` it, check the user, the unit (`systemd-analyze verify`), the
# modes of the configuration, the key and the state directory, the man page and completions;
# start the installed binary as the `tessera` user with the unit's environment, read the first
# API key, mint and verify a token; upgrade over itself and check the configuration, the key
# and the data stay; remove (data and configuration stay), then purge (they go).
# Outside CI without root or dpkg it is skipped; under CI that fails. PROFILE=dev packs the
# debug build (quick, for trying the packaging); CI packs the release build.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/ci.sh

if [ "$(id -u)" != 0 ] || ! command -v dpkg >/dev/null; then
  if must_run_everything; then
    echo "FAIL: the package test needs root and dpkg, and CI=$CI" >&2
    exit 1
  fi
  echo "package test SKIPPED: it needs root and dpkg (it installs the package)"
  exit 0
fi
if dpkg -s tessera >/dev/null 2>&1; then
  echo "FAIL: a tessera package is already installed here; the test would replace it" >&2
  exit 1
fi

fail() { echo "FAIL: $*" >&2; exit 1; }
has() { grep "$@" >/dev/null; }  # reads all its input: no SIGPIPE for the writer under pipefail
mode() { stat -c '%a %U:%G' "$1"; }
expect_mode() { [ "$(mode "$1")" = "$2" ] || fail "$1 is $(mode "$1"), expected $2"; }

deb="$(scripts/deb.sh)"
echo "== package: $deb ($(du -h "$deb" | cut -f1))"
case "$(basename "$deb")" in
  tessera_*_"$(dpkg --print-architecture)".deb) ;;
  *) fail "package name $(basename "$deb") is not tessera_<version>_<arch>.deb" ;;
esac

pid=""
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  dpkg -P tessera >/dev/null 2>&1 || true
}
trap cleanup EXIT

echo "== install"
dpkg -i "$deb"
[ -x /usr/bin/tessera ] || fail "/usr/bin/tessera is missing"
/usr/bin/tessera --version | grep -Eq '^tessera [0-9]+\.[0-9]+\.[0-9]+ \(commit [0-9a-f]{7,}|unknown\)' \
  || fail "tessera --version does not name the version and commit: $(/usr/bin/tessera --version)"
getent passwd tessera >/dev/null || fail "no tessera user"
[ "$(getent passwd tessera | cut -d: -f7)" = /usr/sbin/nologin ] || fail "tessera user has a login shell"
[ "$(id -u tessera)" -lt 1000 ] || fail "tessera is not a system user (uid $(id -u tessera))"
expect_mode /etc/tessera "750 root:tessera"
expect_mode /etc/tessera/tessera.env "600 root:root"
expect_mode /etc/tessera/kek "600 root:root"
expect_mode /var/lib/tessera "700 tessera:tessera"
grep -qx /etc/tessera/tessera.env /var/lib/dpkg/info/tessera.conffiles || fail "tessera.env is not a conffile"
for f in /usr/share/man/man1/tessera.1.gz /usr/share/bash-completion/completions/tessera \
  /usr/share/zsh/vendor-completions/_tessera /usr/share/fish/vendor_completions.d/tessera.fish; do
  [ -s "$f" ] || fail "$f is missing or empty"
done
zcat /usr/share/man/man1/tessera.1.gz | has '^\.TH' || fail "the man page is not a man page"
grep -q '^ExecStart=/usr/bin/tessera serve' /lib/systemd/system/tessera.service || fail "the unit does not run /usr/bin/tessera"

echo "== systemd-analyze verify"
if command -v systemd-analyze >/dev/null; then
  out="$(systemd-analyze verify /lib/systemd/system/tessera.service 2>&1 || true)"
  if printf '%s\n' "$out" | grep 'tessera.service'; then
    fail "systemd-analyze verify complains about the unit"
  fi
  echo "verified"
elif must_run_everything; then
  fail "systemd-analyze is missing and CI=$CI"
else
  echo "systemd-analyze SKIPPED: not installed"
fi

# Start the installed binary as the unit does: its user, working directory, umask and
# environment, the key handed over as a credential (a private copy the user can read), and
# the settings of /etc/tessera/tessera.env. Only the port differs, so it cannot collide.
port=$(( 20000 + RANDOM % 20000 ))
creds="$(mktemp -d)"
chown tessera:tessera "$creds"   # as systemd makes $CREDENTIALS_DIRECTORY: the service user's
serve() {
  install -m 0400 -o tessera -g tessera /etc/tessera/kek "$creds/kek"
  (
    cd /var/lib/tessera
    set -a; . /etc/tessera/tessera.env; set +a
    umask 0077
    exec setpriv --reuid tessera --regid tessera --init-groups --no-new-privs \
      env TESSERA_DATABASE_URL=sqlite:///var/lib/tessera/tessera.db TESSERA_LOG_FORMAT=json \
      TESSERA_KEK_FILE="$creds/kek" STATE_DIRECTORY=/var/lib/tessera CREDENTIALS_DIRECTORY="$creds" \
      TESSERA_BIND="127.0.0.1:$port" /usr/bin/tessera serve
  ) </dev/null >"$creds/log" 2>&1 &
  pid=$!
  for _ in $(seq 1 100); do
    curl -sf "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && return 0
    kill -0 "$pid" 2>/dev/null || { cat "$creds/log"; fail "serve exited"; }
    sleep 0.2
  done
  cat "$creds/log"; fail "serve did not become ready"
}
stop() { kill -TERM "$pid"; wait "$pid" || fail "serve did not exit 0 on SIGTERM"; pid=""; }
api() { curl -sf -H "X-Api-Key: $key" -H 'Content-Type: application/json' "$@"; }

echo "== serve as the tessera user"
serve
keyfile=/var/lib/tessera/tessera.db.first-api-key
[ -f "$keyfile" ] || { cat "$creds/log"; fail "no first-key file in the state directory"; }
expect_mode "$keyfile" "600 tessera:tessera"
expect_mode /var/lib/tessera/tessera.db "600 tessera:tessera"
key="$(cat "$keyfile")"
grep -q "$key" "$creds/log" && fail "the API key is in the log"
conn="$(api -X POST "http://127.0.0.1:$port/connections" -d '{"customer_id": "cust-1", "retailer_id": "walmart"}' \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["connection_id"])')"
token="$(api -X POST "http://127.0.0.1:$port/connections/$conn/token" -d '{"scope": "access"}' \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["connection_token"])')"
curl -sf "http://127.0.0.1:$port/.well-known/jwks.json" \
  | /usr/bin/tessera token verify "$token" --jwks - --audience subtotal | has "\"sub\": \"$conn\"" \
  || fail "the minted token does not verify"
echo "minted and verified a token for $conn"
stop

echo "== upgrade over itself"
echo "# kept across upgrades" >> /etc/tessera/tessera.env
kek_before="$(sha256sum /etc/tessera/kek)"
dpkg -i "$deb"
grep -qx '# kept across upgrades' /etc/tessera/tessera.env || fail "the upgrade lost the edited configuration"
[ "$(sha256sum /etc/tessera/kek)" = "$kek_before" ] || fail "the upgrade changed the key-encryption key"
expect_mode /etc/tessera/tessera.env "600 root:root"
expect_mode /var/lib/tessera "700 tessera:tessera"
serve
api "http://127.0.0.1:$port/connections/$conn" | has "\"connection_id\":\"$conn\"" \
  || fail "the upgrade lost the connection (or the API key)"
api -X POST "http://127.0.0.1:$port/connections/$conn/token" -d '{"scope": "access"}' | has connection_token \
  || fail "no token after the upgrade (the signing keys need the same key-encryption key)"
echo "configuration, key and data kept; tokens still minted"
stop

echo "== remove"
dpkg -r tessera
[ ! -e /usr/bin/tessera ] || fail "remove left /usr/bin/tessera"
[ -f /var/lib/tessera/tessera.db ] || fail "remove deleted the database"
[ -f /etc/tessera/tessera.env ] || fail "remove deleted the configuration"
[ -f /etc/tessera/kek ] || fail "remove deleted the key-encryption key"

echo "== purge"
dpkg -P tessera
[ ! -e /var/lib/tessera ] || fail "purge left /var/lib/tessera"
[ ! -e /etc/tessera ] || fail "purge left /etc/tessera: $(ls -A /etc/tessera)"
rm -rf "$creds"
echo "package test: PASS"
