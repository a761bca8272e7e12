#!/usr/bin/env python3
"""Partner apps end to end: a real authorization server (node oidc-provider, installed from
tests/oauth/package-lock.json with `npm ci`) and a real `tessera serve`, on SQLite and on
PostgreSQL.

For each backend: starts tessera trusting the authorization server (--oauth-issuer), allows the
partner app for the bootstrap client with `tessera partner allow`, gets RS256 JWT access tokens
from the authorization server by client credentials, and checks that the partner:
  - reads GET /account (its scopes) and creates a connection;
  - mints a connection token on the seed endpoint (POST /connections/{id}/token) that the
    client's API key introspects as live;
  - is refused 403 insufficient_scope with a token lacking connections:write;
  - is refused 403 once `tessera partner revoke` has run;
that an opaque access token works through the server's introspection endpoint (tessera's own
client credentials there) and keeps to its scopes; and that with the authorization server stopped (and the JWKS cache expired) its tokens are 503
while the API key keeps working.

usage: partner_e2e.py TESSERA_BINARY
Exits 2 (a skip) when node/npm cannot be used, unless CI is set; PostgreSQL as sdk_check.py.
"""
import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "contract"))
from common import free_port, wait_for  # noqa: E402
from sdk_check import KEK, cli, must_run_everything, postgres_database  # noqa: E402

AUDIENCE = "https://api.tessera.test"
failures = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        failures.append(what)


def call(method, url, headers=None, body=None, form=None):
    data = json.dumps(body).encode() if body is not None else None
    hdrs = {"content-type": "application/json", **(headers or {})}
    if form is not None:
        data = urllib.parse.urlencode(form).encode()
        hdrs["content-type"] = "application/x-www-form-urlencoded"
    req = urllib.request.Request(url, data=data, method=method, headers=hdrs)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read() or b"null"), r.headers
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null"), e.headers


def access_token(as_url, scope, resource=None):
    basic = base64.b64encode(b"acme-partner:acme-secret").decode()
    form = {"grant_type": "client_credentials", "scope": scope}
    if resource:
        form["resource"] = resource
    status, body, _ = call("POST", f"{as_url}/token", {"authorization": f"Basic {basic}"}, form=form)
    assert status == 200, f"the authorization server issued no token: {status} {body}"
    return body["access_token"]


def start_as(client_id):
    port = free_port()
    proc = subprocess.Popen(["node", os.path.join(HERE, "authorization_server.mjs"), str(port), AUDIENCE, client_id],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    for line in proc.stdout:
        if line.strip() == "ready":
            break
    wait_for(port, proc, "the authorization server")
    return proc, f"http://127.0.0.1:{port}"


def check_backend(binary, label, database_url):
    env = {k: v for k, v in os.environ.items() if not k.startswith("TESSERA_")}
    env["TESSERA_DATABASE_URL"] = database_url
    env["TESSERA_KEK"] = KEK
    cli(binary, env, "migrate")
    client_id = json.loads(cli(binary, env, "client", "create", "--name", "brand", "--json"))["client_id"]
    key = json.loads(cli(binary, env, "key", "create", "--client", client_id, "--json"))["api_key"]
    auth_server, as_url = start_as(client_id)
    port = free_port()
    proc = subprocess.Popen([binary, "serve", "--bind", f"127.0.0.1:{port}", "--oauth-issuer", as_url,
                             "--oauth-audience", AUDIENCE, "--oauth-introspection-client-id", "tessera",
                             "--oauth-introspection-client-secret", "tessera-secret"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(port, proc, "tessera")
        cli(binary, env, "partner", "allow", "--issuer", as_url, "--partner-client-id", "acme-partner",
            "--client", client_id)
        token = access_token(as_url, "connections:read connections:write")
        header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
        check(header.get("alg") == "RS256", f"{label}: the authorization server signs RS256 ({header})")
        bearer = {"authorization": f"Bearer {token}"}

        status, body, _ = call("GET", f"{base}/account", bearer)
        check(status == 200 and body["client_id"] == client_id
              and body["scopes"] == ["connections:read", "connections:write"],
              f"{label}: GET /account names the client and the token's scopes ({status} {body})")
        status, body, _ = call("POST", f"{base}/connections", bearer, {"customer_id": "c-1", "retailer_id": "walmart"})
        check(status == 201, f"{label}: the partner creates a connection ({status})")
        conn = body["connection_id"]
        status, body, _ = call("POST", f"{base}/connections/{conn}/token", bearer, {"scope": "access"})
        check(status == 201 and "connection_token" in body, f"{label}: the partner mints a connection token ({status})")
        minted = body.get("connection_token", "")
        status, body, _ = call("POST", f"{base}/tokens/introspect", {"x-api-key": key}, {"token": minted})
        check(body.get("active") is True and body.get("sub") == conn,
              f"{label}: the client's key introspects it as live ({body.get('active')})")

        # An opaque access token, checked at the authorization server's introspection endpoint.
        opaque = access_token(as_url, "connections:read connections:write", "urn:tessera:opaque")
        check(opaque.count(".") != 2, f"{label}: the authorization server issues an opaque token")
        status, body, _ = call("POST", f"{base}/connections/{conn}/token", {"authorization": f"Bearer {opaque}"},
                               {"scope": "access"})
        check(status == 201, f"{label}: an opaque token mints a connection token through introspection ({status} {body})")
        opaque_read = access_token(as_url, "connections:read", "urn:tessera:opaque")
        status, body, _ = call("POST", f"{base}/connections/{conn}/token", {"authorization": f"Bearer {opaque_read}"},
                               {"scope": "access"})
        check(status == 403, f"{label}: an opaque token without connections:write is 403 ({status})")
        status, _, _ = call("GET", f"{base}/connections/{conn}", {"authorization": "Bearer not-a-token-it-issued"})
        check(status == 401, f"{label}: an opaque token the server does not know is 401 ({status})")

        read_only = {"authorization": f"Bearer {access_token(as_url, 'connections:read')}"}
        status, body, headers = call("POST", f"{base}/connections/{conn}/token", read_only, {"scope": "access"})
        check(status == 403 and body == {"detail": "insufficient_scope"}
              and 'scope="connections:write"' in (headers.get("www-authenticate") or ""),
              f"{label}: without connections:write, 403 insufficient_scope ({status} {body})")

        grants = json.loads(cli(binary, env, "partner", "list", "--json"))
        check(len(grants) == 1 and grants[0]["partner_client_id"] == "acme-partner", f"{label}: partner list")
        cli(binary, env, "partner", "revoke", grants[0]["grant_id"])
        status, _, _ = call("GET", f"{base}/connections/{conn}", bearer)
        check(status == 403, f"{label}: a revoked partner is refused ({status})")
        cli(binary, env, "partner", "allow", "--issuer", as_url, "--partner-client-id", "acme-partner",
            "--client", client_id)
        status, _, _ = call("GET", f"{base}/connections/{conn}", bearer)
        check(status == 200, f"{label}: allowed again ({status})")
    finally:
        proc.terminate()
        proc.wait()
        auth_server.terminate()
        auth_server.wait()

    # The authorization server is down: a fresh tessera (nothing cached) answers 503 for its
    # tokens, and the API key works.
    port = free_port()
    proc = subprocess.Popen([binary, "serve", "--bind", f"127.0.0.1:{port}", "--oauth-issuer", as_url,
                             "--oauth-audience", AUDIENCE], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(port, proc, "tessera")
        status, body, _ = call("GET", f"{base}/connections/{conn}", bearer)
        check(status == 503, f"{label}: the issuer down: 503 for its tokens ({status} {body})")
        status, _, _ = call("GET", f"{base}/connections/{conn}", {"x-api-key": key})
        check(status == 200, f"{label}: the issuer down: the API key works ({status})")
    finally:
        proc.terminate()
        proc.wait()


def main():
    binary = os.path.abspath(sys.argv[1])
    if shutil.which("npm") is None or shutil.which("node") is None:
        print("partner e2e: node and npm are needed for the authorization server")
        sys.exit(1 if must_run_everything() else 2)
    r = subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--silent"], cwd=HERE)
    if r.returncode != 0:
        print("partner e2e: cannot install oidc-provider from npm (tests/oauth/package-lock.json)")
        sys.exit(1 if must_run_everything() else 2)
    with tempfile.TemporaryDirectory() as tmp:
        check_backend(binary, "sqlite", f"sqlite://{tmp}/e2e.db")
    pg = postgres_database()
    if pg is None:
        print("partner e2e (postgres): PostgreSQL is unreachable or psql is missing")
        if must_run_everything():
            failures.append("postgres unreachable under CI")
    else:
        url, drop = pg
        try:
            check_backend(binary, "postgres", url)
        finally:
            drop()
    if failures:
        print(f"partner e2e: {len(failures)} FAILED")
        sys.exit(1)
    print("partner e2e: all passed")


if __name__ == "__main__":
    main()
