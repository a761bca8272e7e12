#!/usr/bin/env bash
# The release checklist: builds the Debian package (scripts/deb.sh) and the manual
# (scripts/docs.sh: the configuration chapter current, no broken link, mdbook build), then
# prints what a release would hand out with sizes and SHA-256 checksums. It publishes nothing:
# tagging, uploading and announcing stay by hand, after reading this output.
set -euo pipefail
cd "$(dirname "$0")/.."

version="$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)"
echo "== tessera $version, commit $(git rev-parse --short HEAD)"
if [ -n "$(git status --porcelain --untracked-files=no)" ]; then
  echo "WARNING: the working tree has uncommitted changes: the build will not match the commit"
fi
grep -q "^## .*$version" CHANGELOG.md || echo "WARNING: CHANGELOG.md has no heading for $version"

echo "== the manual"
scripts/docs.sh >/dev/null
book="target/tessera-book-$version.tar.gz"
tar -C target -czf "$book" book

echo "== the Debian package"
deb="$(scripts/deb.sh)"
dpkg-deb -f "$deb" Package Version Architecture

echo "== artifacts"
for f in "$deb" "$book"; do
  printf '%-60s %10s bytes  sha256 %s\n' "$(basename "$f")" "$(stat -c %s "$f")" "$(sha256sum "$f" | cut -d' ' -f1)"
done
echo "checklist: scripts/test.sh and scripts/deb-test.sh green on this commit; RELEASES names"
echo "the previous release; CHANGELOG.md says what changed; then tag v$version by hand."
