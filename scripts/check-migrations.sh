#!/usr/bin/env bash
# Refuses a migration that would break the previous release while both run on one database
# during a rolling upgrade. Migrations are expand-then-contract: a release adds tables,
# columns and indexes; it drops or renames what the previous release reads only once that
# release is gone, a release later. So a migration newer than the previous release (the last
# line of RELEASES: the migrations in that commit's tree are the ones it shipped) may not
# DROP a table, column, view, type or constraint, nor RENAME anything (DROP INDEX is allowed:
# it costs speed, not correctness) - unless CHANGELOG.md's Unreleased section, under
# "### Upgrading", names the migration's version and says it "needs a stop" (every server
# of the previous release stopped before it runs).
#
# MIGRATIONS_DIR and CHANGELOG point the check elsewhere (its own test plants migrations).
set -euo pipefail
cd "$(dirname "$0")/.."
migrations="${MIGRATIONS_DIR:-migrations}"
changelog="${CHANGELOG:-CHANGELOG.md}"
read -r version commit < <(grep -v '^#' RELEASES | grep . | tail -n1)
shipped="$(git ls-tree -r --name-only "$commit" -- migrations | xargs -rn1 basename | sort -u)"

# The Unreleased section's "### Upgrading" part.
upgrading="$(awk '
  /^## / { in_unreleased = ($0 ~ /^## \[Unreleased\]/); in_upgrading = 0; next }
  in_unreleased && /^### / { in_upgrading = ($0 ~ /^### Upgrading/); next }
  in_unreleased && in_upgrading { print }
' "$changelog")"

status=0
checked=0
for file in "$migrations"/*/*.sql; do
  name="$(basename "$file")"
  if grep -qxF "$name" <<<"$shipped"; then
    continue
  fi
  checked=$((checked + 1))
  migration_version="${name%%_*}"
  # Statements without their comments, joined into one line each.
  statements="$(sed -e 's/--.*$//' "$file" | tr '\n' ' ' | tr ';' '\n')"
  breaking="$(grep -iE '\bDROP[[:space:]]+(TABLE|COLUMN|VIEW|MATERIALIZED|TYPE|SCHEMA|CONSTRAINT|TRIGGER|FUNCTION)\b|\bALTER[[:space:]]+TABLE\b.*\bDROP\b|\bRENAME\b' <<<"$statements" | grep -viE '^\s*DROP[[:space:]]+INDEX\b' || true)"
  if [ -z "$breaking" ]; then
    continue
  fi
  if grep -F "$migration_version" <<<"$upgrading" | grep -qi "needs a stop"; then
    echo "check-migrations: $file drops or renames, and CHANGELOG.md's Upgrading says it needs a stop"
    continue
  fi
  echo "check-migrations: $file drops or renames what tessera $version (the previous release) reads:" >&2
  sed -e 's/^[[:space:]]*/    /' <<<"$breaking" >&2
  echo "  during a rolling upgrade both releases run on one database: add the new table or column now," >&2
  echo "  and drop or rename the old one in a later release; or, if this upgrade needs every server" >&2
  echo "  of $version stopped first, say so under CHANGELOG.md's Unreleased \"### Upgrading\", naming" >&2
  echo "  $migration_version and the words \"needs a stop\"." >&2
  status=1
done
[ $status -eq 0 ] && echo "check-migrations: $checked migration(s) newer than tessera $version ($commit), none drops or renames what it reads unannounced"
exit $status
