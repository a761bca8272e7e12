"""The manual's verifier examples, run against a live tessera: a token it mints verifies in
Python (PyJWT, examples/verify/verify.py), Node (jose, examples/verify/node) and Go
(golang-jwt, examples/verify/go), and a tampered one is refused by each. Node's dependencies
come from npm (`npm ci`); Go's from Debian (golang-go, golang-github-golang-jwt-jwt-dev), built
in GOPATH mode. Without Go the Go example is skipped with a message, except under CI."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import first_key_in  # noqa: E402


def must_run_everything() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def main(binary: str) -> int:
    failed = passed = 0
    with tempfile.TemporaryDirectory() as tmp:
        server = subprocess.Popen(
            [binary, "serve", "--bind", "127.0.0.1:0", "--database-url", f"sqlite://{tmp}/t.db"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env={k: v for k, v in os.environ.items() if not k.startswith("TESSERA_")},
        )
        try:
            key = base = None
            for line in server.stdout:
                line = line.strip()
                key = first_key_in(line) or key
                if line.startswith("tessera listening on "):
                    base = line.removeprefix("tessera listening on ")
                    break

            def post(path: str, body: dict) -> dict:
                req = urllib.request.Request(
                    base + path, json.dumps(body).encode(), {"x-api-key": key, "content-type": "application/json"}
                )
                return json.load(urllib.request.urlopen(req))

            conn = post("/connections", {"customer_id": "c", "retailer_id": "walmart"})["connection_id"]
            token = post(f"/connections/{conn}/token", {"scope": "access"})["connection_token"]
            head, payload, sig = token.split(".")
            tampered = f"{head}.{payload}.{'A' if sig[0] != 'A' else 'B'}{sig[1:]}"
            jwks = f"{base}/.well-known/jwks.json"
            node_dir = os.path.join(ROOT, "examples", "verify", "node")
            verifiers = {
                "python (PyJWT)": [sys.executable, os.path.join(ROOT, "examples", "verify", "verify.py"), jwks],
            }
            if shutil.which("node") and shutil.which("npm"):
                if subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--silent"], cwd=node_dir).returncode != 0:
                    print("verifiers: npm ci failed")
                    return 1
                verifiers["node (jose)"] = ["node", os.path.join(node_dir, "verify.mjs"), jwks]
            elif must_run_everything():
                print("verifiers: Node or npm is missing and CI is set")
                failed += 1
            else:
                print("verifiers: Node example SKIPPED (install Node and npm to run it)")
            go_example = os.path.join(ROOT, "examples", "verify", "go", "verify.go")
            if shutil.which("go") and os.path.isdir("/usr/share/gocode/src/github.com/golang-jwt/jwt"):
                verifiers["go (golang-jwt)"] = ["go", "run", go_example, jwks]
            elif must_run_everything():
                print("verifiers: Go or golang-github-golang-jwt-jwt-dev is missing and CI is set")
                failed += 1
            else:
                print("verifiers: Go example SKIPPED (apt-get install golang-go golang-github-golang-jwt-jwt-dev)")
            for name, command in verifiers.items():
                env = dict(os.environ, GO111MODULE="off", GOPATH="/usr/share/gocode", GOCACHE=os.path.join(tmp, "gocache"))
                ok = subprocess.run(command + [token], capture_output=True, text=True, env=env)
                claims = json.loads(ok.stdout) if ok.returncode == 0 else {}
                audience = claims.get("aud")
                if claims.get("sub") != conn or "subtotal" not in (audience if isinstance(audience, list) else [audience]):
                    print(f"verifiers: {name} did not accept a minted token: {ok.stderr.strip()}")
                    failed += 1
                bad = subprocess.run(command + [tampered], capture_output=True, text=True, env=env)
                if bad.returncode == 0 or "refused" not in bad.stderr:
                    print(f"verifiers: {name} accepted a tampered token")
                    failed += 1
                if failed == 0:
                    print(f"verifiers: {name} verifies a minted token and refuses a tampered one")
                    passed += 1
        finally:
            server.terminate()
            server.wait()
    print(f"verifiers: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
