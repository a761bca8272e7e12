# Sourced by the test scripts. Under CI every suite must run: a missing PostgreSQL, Python or
# Chromium fails the run instead of skipping. CI counts as set for any value but empty, 0,
# false or no (in any case), so CI=true, CI=1 and CI=True all count; tests/support/mod.rs
# reads it the same way.
must_run_everything() {
  case "$(printf '%s' "${CI:-}" | tr -d '[:space:]' | tr '[:upper:]' '[:lower:]')" in
    ""|0|false|no) return 1 ;;
    *) return 0 ;;
  esac
}
