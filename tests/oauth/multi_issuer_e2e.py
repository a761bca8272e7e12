#!/usr/bin/env python3
"""Several trusted issuers end to end: three real authorization servers (node oidc-provider, the
one partner_e2e.py starts, started three times, each logging the requests it receives) and a
real `tessera serve` trusting them, plus a fourth issuer nothing answers at.

Issuer A issues opaque tokens and is named their issuer (`--oauth-opaque-token-prefix A=`,
oidc-provider's opaque tokens having no prefix of their own). Issuer B is healthy, with an
introspection endpoint tessera knows of. Issuer M is configured with a trailing `/` its
metadata does not have (a misconfigured issuer URL): its discovery finds a document naming
another issuer. Issuer C has nothing listening. Checks that:
  - A's opaque token works through A's introspection endpoint, and B's request log shows no
    introspection request at all (A's token never reached B); junk bearers are 401 and B
    sees nothing of them either;
  - A's JWT and opaque tokens keep working while M (misconfigured) and C (unreachable) fail:
    tokens naming M or C are 503, junk bearers 401, API keys 200; after 10 tokens naming M,
    M was asked for its metadata once (one discovery: RFC 8414's URL, then OpenID Connect's),
    within the 60 s backoff;
  - tessera's log says that M's metadata does not match, not that M cannot be reached;
  - a partner token gets the same 403 and detail on /tokens/introspect, /tokens/revoke and
    /redirect-urls.

SQLite only: what is checked is tessera's routing of tokens to issuers, not storage.

usage: multi_issuer_e2e.py TESSERA_BINARY
Exits 2 (a skip) when node/npm cannot be used, unless CI is set.
"""
import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "contract"))
from common import free_port, wait_for  # noqa: E402
from sdk_check import KEK, cli, must_run_everything  # noqa: E402

AUDIENCE = "https://api.tessera.test"
KEY_ONLY = "This route takes an API key, not a partner access token"
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
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def access_token(as_url, scope, resource=None):
    basic = base64.b64encode(b"acme-partner:acme-secret").decode()
    form = {"grant_type": "client_credentials", "scope": scope}
    if resource:
        form["resource"] = resource
    status, body = call("POST", f"{as_url}/token", {"authorization": f"Basic {basic}"}, form=form)
    assert status == 200, f"the authorization server issued no token: {status} {body}"
    return body["access_token"]


def start_as(client_id, log_path):
    port = free_port()
    env = {**os.environ, "REQUEST_LOG": log_path}
    proc = subprocess.Popen(["node", os.path.join(HERE, "authorization_server.mjs"), str(port), AUDIENCE, client_id],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    for line in proc.stdout:
        if line.strip() == "ready":
            break
    wait_for(port, proc, "the authorization server")
    return proc, f"http://127.0.0.1:{port}"


def read_log(path):
    try:
        with open(path) as f:
            return [line.strip() for line in f if line.strip()]
    except FileNotFoundError:
        return []


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claiming(token, iss):
    """`token` with its `iss` replaced (its signature no longer holds): a token naming `iss`."""
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    return f"{header}.{b64(json.dumps({**claims, 'iss': iss}).encode())}.{signature}"


def run(binary, tmp):
    env = {k: v for k, v in os.environ.items() if not k.startswith("TESSERA_")}
    env["TESSERA_DATABASE_URL"] = f"sqlite://{tmp}/multi.db"
    env["TESSERA_KEK"] = KEK
    cli(binary, env, "migrate")
    client_id = json.loads(cli(binary, env, "client", "create", "--name", "brand", "--json"))["client_id"]
    key = json.loads(cli(binary, env, "key", "create", "--client", client_id, "--json"))["api_key"]
    a_log, b_log, m_log = (os.path.join(tmp, f"{name}.log") for name in "abm")
    a_proc, a_url = start_as(client_id, a_log)
    b_proc, b_url = start_as(client_id, b_log)
    m_proc, m_url = start_as(client_id, m_log)
    m_configured = f"{m_url}/"  # its metadata says m_url: a mismatch
    c_url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    port = free_port()
    tessera_log = os.path.join(tmp, "tessera.log")
    with open(tessera_log, "w") as log:
        proc = subprocess.Popen([binary, "serve", "--bind", f"127.0.0.1:{port}",
                                 "--oauth-issuer", a_url, "--oauth-issuer", b_url,
                                 "--oauth-issuer", m_configured, "--oauth-issuer", c_url,
                                 "--oauth-opaque-token-prefix", f"{a_url}=",
                                 "--oauth-audience", AUDIENCE, "--oauth-jwks-min-refetch", "60",
                                 "--oauth-introspection-client-id", "tessera",
                                 "--oauth-introspection-client-secret", "tessera-secret"],
                                env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(port, proc, "tessera")
        cli(binary, env, "partner", "allow", "--issuer", a_url, "--partner-client-id", "acme-partner",
            "--client", client_id)
        status, body = call("POST", f"{base}/connections", {"x-api-key": key},
                            {"customer_id": "c-1", "retailer_id": "walmart"})
        assert status == 201, f"no connection: {status} {body}"
        path = f"{base}/connections/{body['connection_id']}"
        get = lambda token: call("GET", path, {"authorization": f"Bearer {token}"})  # noqa: E731

        # B is healthy and known: its token is checked (and refused: B's partner is not allowed).
        status, body = get(access_token(b_url, "connections:read"))
        check(status == 403, f"B's token is verified with B's keys, its partner not allowed ({status} {body})")
        check("GET /.well-known/oauth-authorization-server" in read_log(b_log), f"B was discovered ({read_log(b_log)})")

        # A's opaque token goes to A only, never to B.
        opaque = access_token(a_url, "connections:read", "urn:tessera:opaque")
        check(opaque.count(".") == 0, "issuer A issues an opaque token")
        status, body = get(opaque)
        check(status == 200, f"A's opaque token works through A's introspection ({status} {body})")
        check(any("introspect" in line for line in read_log(a_log)), f"A was asked ({read_log(a_log)})")
        for junk in ["junk", "not.a.jwt", "tsk_not_a_key"]:
            status, _ = get(junk)
            check(status == 401, f"a junk bearer {junk!r} is 401 ({status})")
        b_seen = read_log(b_log)
        check(not any("introspect" in line for line in b_seen),
              f"B received no introspection request: A's token and the junk never reached it ({b_seen})")

        # M misconfigured and C unreachable: their tokens fail, A's and API keys do not.
        a_jwt = access_token(a_url, "connections:read")
        m_token = claiming(access_token(m_url, "connections:read"), m_configured)
        c_token = claiming(a_jwt, c_url)
        for i in range(10):
            status, body = get(m_token)
            check(status == 503, f"round {i}: a token naming misconfigured M is 503 ({status} {body})")
            status, _ = get(c_token)
            check(status == 503, f"round {i}: a token naming unreachable C is 503 ({status})")
            status, _ = get(a_jwt)
            check(status == 200, f"round {i}: A's JWT works ({status})")
            status, _ = get(opaque)
            check(status == 200, f"round {i}: A's opaque token works ({status})")
            status, _ = get(f"junk-{i}")
            check(status == 401, f"round {i}: a junk bearer is 401 ({status})")
            status, _ = call("GET", path, {"x-api-key": key})
            check(status == 200, f"round {i}: the API key works ({status})")
        # (Less the token this script asked M for.)
        m_seen = [line for line in read_log(m_log) if line != "POST /token"]
        discovery = [line for line in m_seen if "/.well-known/" in line]
        check(sum("openid-configuration" in line for line in discovery) == 1 and len(discovery) <= 2
              and len(m_seen) == len(discovery),
              f"M's metadata was fetched once for 10 tokens within the backoff ({m_seen})")
        b_seen = read_log(b_log)
        check(not any("introspect" in line for line in b_seen), f"B still saw no introspection ({b_seen})")

        # One answer for a partner token on every key-only route.
        bearer = {"authorization": f"Bearer {a_jwt}"}
        answers = [call("POST", f"{base}/tokens/introspect", bearer, {"token": "x"}),
                   call("POST", f"{base}/tokens/revoke", bearer, {"token": "x"}),
                   call("GET", f"{base}/redirect-urls", bearer)]
        check(all(a == (403, {"detail": KEY_ONLY}) for a in answers),
              f"a partner token on key-only routes: one answer, 403 {KEY_ONLY!r} ({answers})")
    finally:
        proc.terminate()
        proc.wait()
        for p in (a_proc, b_proc, m_proc):
            p.terminate()
            p.wait()
    with open(tessera_log) as f:
        logged = [line for line in f if m_configured in line]
    check(any("does not match its configured issuer URL" in line for line in logged)
          and not any("cannot be reached" in line for line in logged),
          f"tessera's log says M's metadata does not match, not that M cannot be reached ({logged[:3]})")


def main():
    binary = os.path.abspath(sys.argv[1])
    if shutil.which("npm") is None or shutil.which("node") is None:
        print("multi-issuer e2e: node and npm are needed for the authorization servers")
        sys.exit(1 if must_run_everything() else 2)
    r = subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--silent"], cwd=HERE)
    if r.returncode != 0:
        print("multi-issuer e2e: cannot install oidc-provider from npm (tests/oauth/package-lock.json)")
        sys.exit(1 if must_run_everything() else 2)
    with tempfile.TemporaryDirectory() as tmp:
        run(binary, tmp)
    if failures:
        print(f"multi-issuer e2e: {len(failures)} FAILED")
        sys.exit(1)
    print("multi-issuer e2e: all passed")


if __name__ == "__main__":
    main()
