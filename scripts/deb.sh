#!/usr/bin/env bash
# Builds the Debian package: target/debian/tessera_<version>-1_<arch>.deb. It builds tessera
# (release profile; PROFILE=dev packs the debug build instead, for a quick try of the
# packaging), writes the man page and the bash, zsh and fish completions from that binary,
# makes the packaged unit from deploy/systemd/tessera.service with ExecStart at /usr/bin, and
# packs them with `cargo deb --no-build` (metadata: [package.metadata.deb] in Cargo.toml).
# Needs cargo-deb (cargo install cargo-deb --locked). Prints the package's path.
set -euo pipefail
cd "$(dirname "$0")/.."
profile="${PROFILE:-release}"
target="${CARGO_TARGET_DIR:-target}"
if ! cargo deb --version >/dev/null 2>&1; then
  echo "cargo-deb is required: cargo install cargo-deb --locked" >&2
  exit 1
fi
cargo build --locked --profile "$profile" --bin tessera >&2
dir="$( [ "$profile" = dev ] && echo debug || echo "$profile")"
bin="$target/$dir/tessera"
assets="$target/debian-assets"
rm -rf "$assets" && mkdir -p "$assets"
"$bin" man | gzip -9n > "$assets/tessera.1.gz"
"$bin" completions bash > "$assets/tessera.bash"
"$bin" completions zsh > "$assets/_tessera"
"$bin" completions fish > "$assets/tessera.fish"
sed 's|^ExecStart=/usr/local/bin/tessera |ExecStart=/usr/bin/tessera |' deploy/systemd/tessera.service \
  > "$assets/tessera.service"
grep -q '^ExecStart=/usr/bin/tessera ' "$assets/tessera.service" || {
  echo "deploy/systemd/tessera.service: no ExecStart=/usr/local/bin/tessera line to rewrite" >&2
  exit 1
}
out="$(cargo deb --no-build --profile "$profile" 2>&1 | tail -n1)"
if [ ! -f "$out" ]; then
  echo "cargo deb did not make a package: $out" >&2
  exit 1
fi
echo "$out"
