#!/usr/bin/env bash
# Fuzzes every operation of a running tessera from its own OpenAPI document: no 5xx, and no
# answer that breaks its documented schema. usage: schemathesis_check.sh PYTHON TESSERA_BINARY
set -euo pipefail
python="$1"; binary="$2"
here="$(cd "$(dirname "$0")" && pwd)"
read -r pid port key < <("$python" - "$binary" <<'PY'
import os, sys
sys.path.insert(0, os.environ.get("HERE", "."))
from common import start_tessera
proc, port, key = start_tessera(sys.argv[1])
print(proc.pid, port, key, flush=True)
os._exit(0)
PY
)
trap 'kill "$pid" 2>/dev/null || true' EXIT
# Every operation the clients use must be in the document schemathesis reads, or it is not fuzzed.
"$python" - "$port" <<'PY'
import json, sys, urllib.request
doc = json.load(urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/openapi.json"))
wanted = [("post", "/connections"), ("get", "/connections"), ("post", "/connections/{connection_id}/token"),
          ("post", "/link-tokens"), ("get", "/link-tokens"), ("delete", "/link-tokens/{link_token}")]
missing = [f"{m.upper()} {p}" for m, p in wanted if m not in doc.get("paths", {}).get(p, {})]
if missing:
    sys.exit("schemathesis: operations missing from /openapi.json: " + ", ".join(missing))
PY
"$(dirname "$python")/schemathesis" run "http://127.0.0.1:$port/openapi.json" \
  --header "X-Api-Key: $key" \
  --checks not_a_server_error,response_schema_conformance,status_code_conformance \
  --max-examples "${SCHEMATHESIS_EXAMPLES:-30}" \
  --seed 1 \
  --suppress-health-check all
