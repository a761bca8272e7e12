#!/usr/bin/env python3
"""Partner apps end to end: a real authorization server (node oidc-provider, installed from
tests/oauth/package-lock.json with `npm ci`) and a real `tessera serve`, on SQLite and on
PostgreSQL.

For each backend: starts tessera trusting the authorization server (--oauth-issuer), allows the
partner apps for the bootstrap client with `tessera partner allow`, and checks that:
  - a client-credentials token (RS256 JWT) reads GET /account (its scopes), creates a
    connection and mints a connection token on the seed endpoint (POST
    /connections/{id}/token) that the client's API key introspects as live;
  - the authorization code grant with PKCE (S256) works as a brand's browser runs it (sign-in
    and consent at the authorization server, the state back, the code exchanged with its
    verifier; a wrong verifier is invalid_grant), and its token mints on the seed endpoint;
  - each route group is 403 insufficient_scope (with RFC 6750's WWW-Authenticate) for a token
    with every scope but its own, and passes with its own alone;
  - an expired token, `alg: none`, changed claims, another key under the issuer's kid, an
    unknown kid, another audience and another issuer's token are 401;
  - another client's connection is 404; a revoked partner is 403, allowed again 200;
  - an opaque access token works through the server's introspection endpoint (tessera's own
    client credentials there) and keeps to its scopes;
  - a rotated signing key (the server restarted with a new key and kid) is picked up;
  - with the authorization server stopped (and nothing cached) its tokens are 503 while the
    API key keeps working.

usage: partner_e2e.py TESSERA_BINARY
Exits 2 (a skip) when node/npm cannot be used, unless CI is set; PostgreSQL as sdk_check.py.
"""
import base64
import hashlib
import http.cookiejar
import json
import os
import re
import secrets
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
REDIRECT_URI = "http://127.0.0.1:9/callback"
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


class _Stop(urllib.request.HTTPRedirectHandler):
    """Follows redirects on the authorization server; stops at the partner's redirect URI."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        if newurl.startswith(REDIRECT_URI):
            raise _Landed(newurl)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


class _Landed(Exception):
    def __init__(self, url):
        super().__init__(url)
        self.url = url


def authorization_code(as_url, scope):
    """The authorization code grant with PKCE, as a partner app and a brand's browser run it:
    the authorization request with an S256 code challenge, the brand user signing in and
    allowing the scopes at the authorization server, and the redirect with the code. Returns
    (code, verifier)."""
    verifier = base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode()
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    state = secrets.token_urlsafe(16)
    browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()), _Stop())
    query = urllib.parse.urlencode({
        "response_type": "code", "client_id": "acme-partner-app", "redirect_uri": REDIRECT_URI, "scope": scope,
        "state": state, "code_challenge": challenge, "code_challenge_method": "S256", "resource": AUDIENCE,
    })
    with browser.open(f"{as_url}/auth?{query}", timeout=30) as page:
        html = page.read().decode()
    action = re.search(r'<form method="post" action="([^"]+)"', html)
    assert action, f"no consent form at the authorization server: {html[:300]}"
    form = urllib.parse.urlencode({"account": "brand-admin", "decision": "allow"}).encode()
    try:
        browser.open(urllib.request.Request(f"{as_url}{action.group(1)}", data=form), timeout=30)
        raise AssertionError("the authorization server did not redirect back to the partner")
    except _Landed as landed:
        back = urllib.parse.parse_qs(urllib.parse.urlparse(landed.url).query)
    check(back.get("state") == [state], "authorization code: the state comes back unchanged")
    assert "code" in back, f"no code in the redirect: {back}"
    return back["code"][0], verifier


def exchange_code(as_url, code, verifier):
    basic = base64.b64encode(b"acme-partner-app:acme-app-secret").decode()
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI, "code_verifier": verifier}
    return call("POST", f"{as_url}/token", {"authorization": f"Basic {basic}"}, form=form)


def code_token(as_url, scope):
    code, verifier = authorization_code(as_url, scope)
    status, body, _ = exchange_code(as_url, code, verifier)
    assert status == 200, f"the authorization server refused the code: {status} {body}"
    return body["access_token"]


def claims_of(jwt):
    return json.loads(base64.urlsafe_b64decode(jwt.split(".")[1] + "=="))


def start_as(client_id, port=None, kid="rsa-1"):
    port = port or free_port()
    proc = subprocess.Popen(["node", os.path.join(HERE, "authorization_server.mjs"), str(port), AUDIENCE, client_id, kid],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    for line in proc.stdout:
        if line.strip() == "ready":
            break
    wait_for(port, proc, "the authorization server")
    return proc, f"http://127.0.0.1:{port}"


# What each route group needs, and a request to it.
ROUTE_GROUPS = [
    ("connections:read", "GET", "/connections/{conn}", None),
    ("connections:write", "POST", "/connections", {"customer_id": "c-3", "retailer_id": "walmart"}),
    ("purchases:brand_products", "GET", "/connections/{conn}/purchases", None),
    ("webhooks:read", "GET", "/webhooks", None),
    ("webhooks:write", "POST", "/webhooks",
     {"name": "e2e", "url": "http://127.0.0.1:9/e2e", "is_active": True, "event_types": ["connection.activated"]}),
]
ALL_SCOPES = [scope for scope, *_ in ROUTE_GROUPS]


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def resigned(header, payload):
    """The same header and claims, signed RS256 by a key the issuer never had."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    signature = key.sign(f"{header}.{payload}".encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{header}.{payload}.{b64(signature)}"


def refused_tokens(label, base, as_url, conn, token):
    """The authorization server's tokens that tessera must refuse: each route group without its
    scope (403), and expired, forged, foreign-audience and other-issuer tokens (401)."""
    for scope, method, path, payload in ROUTE_GROUPS:
        others = " ".join(s for s in ALL_SCOPES if s != scope)
        status, body, headers = call(method, base + path.format(conn=conn),
                                     {"authorization": f"Bearer {access_token(as_url, others)}"}, payload)
        check(status == 403 and body == {"detail": "insufficient_scope"}
              and f'scope="{scope}"' in (headers.get("www-authenticate") or ""),
              f"{label}: every scope but {scope}: {method} {path} is 403 insufficient_scope ({status})")
        status, body, _ = call(method, base + path.format(conn=conn),
                               {"authorization": f"Bearer {access_token(as_url, scope)}"}, payload)
        check(status in (200, 201), f"{label}: {scope} alone: {method} {path} passes ({status} {body.get('detail')})")

    def refused(what, bad):
        status, body, _ = call("GET", f"{base}/connections/{conn}", {"authorization": f"Bearer {bad}"})
        check(status == 401, f"{label}: {what} is 401 ({status} {body})")

    brief = access_token(as_url, "connections:read", "urn:tessera:brief")
    status, _, _ = call("GET", f"{base}/connections/{conn}", {"authorization": f"Bearer {brief}"})
    check(status == 200, f"{label}: a token that lives 1 s works at first ({status})")
    time.sleep(2.1)
    refused("an expired token", brief)
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    refused("alg none", b64(json.dumps({"alg": "none", "typ": "at+jwt"}).encode()) + "." + payload + ".")
    claims_forged = {**claims, "scope": " ".join(ALL_SCOPES), "exp": claims["exp"] + 3600}
    refused("a token whose claims were changed", header + "." + b64(json.dumps(claims_forged).encode()) + "." + signature)
    refused("a token signed by another key under the issuer's kid", resigned(header, payload))
    unknown_kid = {**json.loads(base64.urlsafe_b64decode(header + "==")), "kid": "nobody-has-this-kid"}
    refused("an unknown kid", b64(json.dumps(unknown_kid).encode()) + "." + payload + "." + signature)
    refused("a token for another audience", access_token(as_url, "connections:read", "urn:other:api"))
    other_as, _ = start_as("someone-else")
    try:
        other_url = f"http://127.0.0.1:{other_as.args[2]}"
        refused("another issuer's token", access_token(other_url, "connections:read"))
    finally:
        other_as.terminate()
        other_as.wait()


def check_backend(binary, label, database_url):
    env = {k: v for k, v in os.environ.items() if not k.startswith("TESSERA_")}
    env["TESSERA_DATABASE_URL"] = database_url
    env["TESSERA_KEK"] = KEK
    cli(binary, env, "migrate")
    client_id = json.loads(cli(binary, env, "client", "create", "--name", "brand", "--json"))["client_id"]
    key = json.loads(cli(binary, env, "key", "create", "--client", client_id, "--json"))["api_key"]
    as_port = free_port()
    auth_server, as_url = start_as(client_id, as_port)
    port = free_port()
    proc = subprocess.Popen([binary, "serve", "--bind", f"127.0.0.1:{port}", "--oauth-issuer", as_url,
                             "--oauth-audience", AUDIENCE, "--oauth-jwks-min-refetch", "1", "--webhook-allow-private",
                             "--webhook-allow-http",
                             "--oauth-introspection-client-id", "tessera",
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

        # The authorization code grant with PKCE: the brand allows the partner's app at the
        # authorization server; its token is then used like any partner token.
        cli(binary, env, "partner", "allow", "--issuer", as_url, "--partner-client-id", "acme-partner-app",
            "--client", client_id)
        code, verifier = authorization_code(as_url, "connections:read connections:write")
        status, body, _ = exchange_code(as_url, code, "a-wrong-verifier-" + "x" * 40)
        check(status == 400 and body.get("error") == "invalid_grant",
              f"{label}: authorization code: a wrong code_verifier is refused ({status} {body})")
        code, verifier = authorization_code(as_url, "connections:read connections:write")
        status, body, _ = exchange_code(as_url, code, verifier)
        check(status == 200, f"{label}: authorization code: the code and its verifier get a token ({status})")
        app_token = body.get("access_token", "")
        app_claims = claims_of(app_token) if app_token.count(".") == 2 else {}
        check(app_claims.get("aud") in (AUDIENCE, [AUDIENCE]) and app_claims.get("client_id") == "acme-partner-app"
              and app_claims.get("sub") == "brand-admin",
              f"{label}: authorization code: a JWT for tessera's audience, the app's and the brand user's "
              f"(aud {app_claims.get('aud')}, client_id {app_claims.get('client_id')}, sub {app_claims.get('sub')})")
        app = {"authorization": f"Bearer {app_token}"}
        status, body, _ = call("GET", f"{base}/account", app)
        check(status == 200 and body["client_id"] == client_id
              and body["scopes"] == ["connections:read", "connections:write"],
              f"{label}: authorization code: GET /account names the client and the scopes ({status} {body})")
        status, body, _ = call("POST", f"{base}/connections/{conn}/token", app, {"scope": "access"})
        check(status == 201 and "connection_token" in body,
              f"{label}: authorization code: the app mints a connection token on the seed endpoint ({status})")
        status, body, _ = call("POST", f"{base}/tokens/introspect", {"x-api-key": key},
                               {"token": body.get("connection_token", "")})
        check(body.get("active") is True and body.get("sub") == conn,
              f"{label}: authorization code: the client's key introspects it as live ({body.get('active')})")
        read_app = {"authorization": f"Bearer {code_token(as_url, 'connections:read')}"}
        status, body, _ = call("POST", f"{base}/connections/{conn}/token", read_app, {"scope": "access"})
        check(status == 403 and body == {"detail": "insufficient_scope"},
              f"{label}: authorization code: allowed only connections:read, minting is 403 ({status} {body})")

        # An opaque access token, checked at the authorization server's introspection endpoint.
        opaque = access_token(as_url, "connections:read connections:write", "urn:tessera:opaque")
        check(opaque.count(".") != 2, f"{label}: the authorization server issues an opaque token")
        status, body, _ = call("POST", f"{base}/connections/{conn}/token", {"authorization": f"Bearer {opaque}"},
                               {"scope": "access"})
        check(status == 201, f"{label}: an opaque token mints a connection token through introspection ({status})")
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
        check(sorted(g["partner_client_id"] for g in grants) == ["acme-partner", "acme-partner-app"],
              f"{label}: partner list names both apps ({[g['partner_client_id'] for g in grants]})")
        grant = next(g for g in grants if g["partner_client_id"] == "acme-partner")
        cli(binary, env, "partner", "revoke", grant["grant_id"])
        status, _, _ = call("GET", f"{base}/connections/{conn}", bearer)
        check(status == 403, f"{label}: a revoked partner is refused ({status})")
        cli(binary, env, "partner", "allow", "--issuer", as_url, "--partner-client-id", "acme-partner",
            "--client", client_id)
        status, _, _ = call("GET", f"{base}/connections/{conn}", bearer)
        check(status == 200, f"{label}: allowed again ({status})")

        refused_tokens(label, base, as_url, conn, token)
        other_client = json.loads(cli(binary, env, "client", "create", "--name", "other brand", "--json"))["client_id"]
        other_key = json.loads(cli(binary, env, "key", "create", "--client", other_client, "--json"))["api_key"]
        _, body, _ = call("POST", f"{base}/connections", {"x-api-key": other_key},
                          {"customer_id": "c-2", "retailer_id": "walmart"})
        for method, path, payload in [("GET", "", None), ("POST", "/token", {"scope": "access"})]:
            status, _, _ = call(method, f"{base}/connections/{body['connection_id']}{path}", bearer, payload)
            check(status == 404, f"{label}: another client's connection is 404 to the partner ({method} {status})")

        # The authorization server rotates its signing key (a restart with a new key and kid):
        # tessera fetches the new JWKS for the unknown kid and takes the new tokens.
        auth_server.terminate()
        auth_server.wait()
        auth_server, _ = start_as(client_id, as_port, "rsa-2")
        rotated = access_token(as_url, "connections:read")
        check(json.loads(base64.urlsafe_b64decode(rotated.split(".")[0] + "=="))["kid"] == "rsa-2",
              f"{label}: the authorization server signs with its new key")
        time.sleep(1.1)  # --oauth-jwks-min-refetch 1
        status, _, _ = call("GET", f"{base}/connections/{conn}", {"authorization": f"Bearer {rotated}"})
        check(status == 200, f"{label}: a rotated issuer key is picked up ({status})")
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
