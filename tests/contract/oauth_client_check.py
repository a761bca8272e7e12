#!/usr/bin/env python3
"""A stock OAuth client (Authlib's OAuth2Session, unmodified) against a live tessera.

Starts `tessera serve` on a fresh SQLite database, mints a connection token with the API key,
reads the RFC 8414 metadata at /.well-known/oauth-authorization-server, and then, as an OAuth
client whose id is the tessera client's and whose secret is the API key:
  - introspects the token with Authlib's default client authentication (client_secret_basic)
    and with client_secret_post: active, with its claims;
  - revokes it with each method (RFC 7009): afterwards introspection says inactive;
  - with a wrong secret gets RFC 6749's 401 invalid_client with a Basic challenge, and without
    a token 400 invalid_request.

usage: oauth_client_check.py TESSERA_BINARY
"""
import json
import os
import sys
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import start_tessera  # noqa: E402

from authlib.integrations.requests_client import OAuth2Session  # noqa: E402

failures = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        failures.append(what)


def call(base, method, path, key, body=None):
    req = urllib.request.Request(base + path, method=method, data=json.dumps(body).encode() if body else None,
                                 headers={"x-api-key": key, "content-type": "application/json"})
    with urllib.request.urlopen(req) as r:
        return json.loads(r.read() or b"null")


def mint(base, key):
    conn = call(base, "POST", "/connections", key, {"customer_id": "oauth-check", "retailer_id": "walmart"})
    return call(base, "POST", f"/connections/{conn['connection_id']}/token", key, {"scope": "access"})["connection_token"]


def main():
    proc, port, key = start_tessera(sys.argv[1])
    base = f"http://127.0.0.1:{port}"
    try:
        token = mint(base, key)
        client_id = call(base, "POST", "/tokens/introspect", key, {"token": token})["client_id"]
        meta = OAuth2Session().get(base + "/.well-known/oauth-authorization-server", withhold_token=True).json()
        check(meta.get("issuer") == base, f"the metadata's issuer is the public URL ({meta.get('issuer')})")
        for name in ["introspection", "revocation"]:
            methods = meta.get(f"{name}_endpoint_auth_methods_supported", [])
            check("client_secret_basic" in methods and "client_secret_post" in methods,
                  f"{name}: basic and post client authentication are offered")
        introspect, revoke = meta["introspection_endpoint"], meta["revocation_endpoint"]

        for method in [None, "client_secret_post"]:
            label = method or "the default (client_secret_basic)"
            kwargs = {} if method is None else {"revocation_endpoint_auth_method": method}
            session = OAuth2Session(client_id, key, **kwargs)
            if method is None:
                check(session.revocation_endpoint_auth_method == "client_secret_basic",
                      "Authlib's default client authentication is client_secret_basic")
            t = mint(base, key)
            r = session.introspect_token(introspect, token=t)
            body = r.json()
            check(r.status_code == 200 and body.get("active") is True and body.get("client_id") == client_id,
                  f"introspect_token with {label}: active ({r.status_code} {body.get('active')})")
            r = session.revoke_token(revoke, token=t, token_type_hint="access_token")
            check(r.status_code == 200, f"revoke_token with {label}: {r.status_code}")
            after = session.introspect_token(introspect, token=t).json()
            check(after == {"active": False}, f"after revoke_token with {label}: inactive ({after})")

        wrong = OAuth2Session(client_id, "tsk_not_a_key")
        r = wrong.introspect_token(introspect, token=token)
        check(r.status_code == 401 and r.json().get("error") == "invalid_client"
              and r.headers.get("www-authenticate", "").startswith("Basic"),
              f"a wrong secret: 401 invalid_client with a Basic challenge ({r.status_code} {r.text})")
        r = OAuth2Session(client_id, key).post(introspect, data={}, auth=(client_id, key), withhold_token=True)
        check(r.status_code == 400 and r.json().get("error") == "invalid_request",
              f"no token: 400 invalid_request ({r.status_code} {r.text})")
    finally:
        proc.terminate()
        proc.wait()
    if failures:
        print(f"oauth client check: {len(failures)} FAILED")
        sys.exit(1)
    print("oauth client check: all passed")


if __name__ == "__main__":
    main()
