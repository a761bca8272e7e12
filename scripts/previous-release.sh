#!/usr/bin/env bash
# Builds the previous release's `tessera` (the last line of RELEASES) once, for the
# rolling-upgrade test, and prints the binary's path. The release's source comes out of git
# (`git archive`: no worktree to clean up; the commit must be in the clone, so CI needs a
# clone deep enough to hold it) into target/previous-release/, and is built in this tree's
# target directory for an explicit --target, so that the release's binary does not replace
# this tree's target/debug/tessera while host artefacts (build scripts, procedural macros)
# whose versions and features match are shared. The binary is kept and reused until RELEASES
# names another release; the build's own artefacts (about 1 GB) are removed once it is copied.
# Cost, measured on the 2-core development machine with other builds running: 321 s of wall
# time (182 s of CPU) the first time, nothing after.
set -euo pipefail
cd "$(dirname "$0")/.."
read -r version commit < <(grep -v '^#' RELEASES | grep . | tail -n1)
out="target/previous-release"
bin="$out/tessera-$version"
if [ -x "$bin" ]; then
  echo "$bin"
  exit 0
fi
host="$(rustc -vV | sed -n 's/^host: //p')"
src="$out/src-$version"
rm -rf "$src"
mkdir -p "$src"
git archive "$commit" | tar -x -C "$src"
start=$(date +%s)
(cd "$src" && CARGO_TARGET_DIR="$PWD/../../" cargo build --quiet --locked --bin tessera --target "$host") >&2
cp "target/$host/debug/tessera" "$bin"
rm -rf "target/$host" "$src"
echo "built tessera $version ($commit) in $(( $(date +%s) - start )) s" >&2
echo "$bin"
