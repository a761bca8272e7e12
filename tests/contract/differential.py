#!/usr/bin/env python3
"""Differential test: tessera against the reference FastAPI implementation.

Starts both (tessera from the binary given, the reference app with uvicorn), sends both the
same generated requests - malformed JSON of every kind, wrong types, missing and extra fields,
over-long strings, odd and missing content types, invalid UTF-8, empty bodies, wrong methods,
odd paths - and compares status and JSON body. Values that are random by design (connection
ids, tokens) are compared by shape.

usage: differential.py TESSERA_BINARY
Prints each difference, a summary, and exits 1 if any answer differs other than a deliberate
deviation (listed in README.md, "Compatibility").
"""
import base64
import http.client
import json
import os
import re
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from common import free_port, start_tessera, wait_for  # noqa: E402
JWS = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$")
LIMIT = 64 * 1024
sys.setrecursionlimit(20000)


def start_reference(key):
    port = free_port()
    env = dict(os.environ, REF_API_KEY=key)
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "reference_app:app", "--app-dir", HERE, "--port", str(port),
         "--log-level", "warning"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    wait_for(port, proc, "reference app")
    return proc, port


def send(port, method, path, headers, body):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.putrequest(method, path, skip_accept_encoding=True, skip_host=False)
    for k, v in headers:
        conn.putheader(k, v)
    if body or method in ("POST", "PUT", "PATCH"):
        conn.putheader("Content-Length", str(len(body)))
    conn.endheaders(body)
    r = conn.getresponse()
    raw = r.read()
    conn.close()
    try:
        parsed = json.loads(raw) if raw else None
    except ValueError:
        parsed = {"_raw": raw.decode("utf-8", "replace")[:200]}
    return r.status, parsed


def normalize(v):
    if isinstance(v, dict):
        out = {}
        for k, x in v.items():
            if k in ("connection_id", "event_id", "next_cursor", "api_key_id") and isinstance(x, str):
                out[k] = "<id>"
            elif k == "at" and isinstance(x, int):
                out[k] = "<time>"
            elif k == "connection_token" and isinstance(x, str) and JWS.match(x):
                out[k] = "<jwt>"
            else:
                out[k] = normalize(x)
        return out
    if isinstance(v, list):
        return [normalize(x) for x in v]
    return v


# ---- generated requests -------------------------------------------------------------------

JSON = ("content-type", "application/json")

def bodies_for_token():
    yield from [b"", b"{}", b"[]", b"null", b'"access"', b"1", b"true", b"  ", b"\n"]
    for scope in ['"access"', '"link"', '"ACCESS"', '"access "', 'null', '1', '0', '-0', '1.5', '1e5', '1E400',
                  'true', 'false', '[]', '["access"]', '{}', '{"a":1}', '"\\u0061ccess"', '"\\ud83d\\ude00"',
                  '123456789012345678901234567890', '"' + "x" * 1000 + '"', 'NaN', 'Infinity', '-Infinity']:
        yield ('{"scope":%s}' % scope).encode()
    yield b'{"scope":"access","extra":1}'
    yield b'{"scope":"link","scope":"access"}'
    yield b'{"scope":"access","scope":"link"}'
    yield b'{"Scope":"access"}'
    # Malformed JSON of every kind.
    for s in ['{', '[', '{"scope"', '{"scope":', '{"scope":"access"', '{"scope":"access",}', '[1,]', '{"a" 1}',
              '{"a":1 "b":2}', '{\'scope\':\'access\'}', '{scope:"access"}', '{"scope":"acc', '"\\x"',
              '{"scope":"\\q"}', '{"scope":"\\u12"}', '{"scope":"\\u12G4"}', '{"scope":"\\ud83d\\uzz"}',
              '"\\u1234', '{"scope":"a\x01"}', '{"scope":"a\x00"}', '{"scope":"a\tb"}', '{} x', '{}{}',
              '01', '1.', '-', '.5', '+1', 'nul', 'tru', 'fals', 'Na', 'Inf', '-Inf', '\x0c{}', '{"a":[1,2,]}',
              '{"a":{"b":}}', '/* c */ {}', '{"scope":"access"} // c', '\ufeff{}']:
        yield s.encode("utf-8")
    yield b"[" * 900
    yield b"[" * 959 + b"]" * 959
    yield b"[" * 961
    yield b'{"a":' * 970
    # Encodings.
    yield b'\xef\xbb\xbf{"scope":"access"}'
    yield '{"scope":"access"}'.encode("utf-16")
    yield '{"scope":"access"}'.encode("utf-16-le")
    yield '{"scope":"access"}'.encode("utf-32-be")
    yield '{"scope":"link"}'.encode("utf-16-be")
    yield b'{"scope":"\xff"}'
    yield b'{"scope":"\xc3\x28"}'
    yield b"\xff\xfe\x00"
    yield b"\x00\x00"


def connection_bodies():
    base = {"customer_id": "cust-1", "retailer_id": "walmart"}
    yield base
    yield dict(base, email="a@b.co", mobile="+1555")
    yield dict(base, email=None, mobile=None)
    yield dict(base, extra=1)
    for field in ("customer_id", "retailer_id"):
        d = dict(base)
        del d[field]
        yield d
    for field, limit in (("customer_id", 64), ("retailer_id", 26), ("email", 64), ("mobile", 16)):
        for value in ["x" * limit, "x" * (limit + 1), "é" * limit, "é" * (limit + 1), "😀" * (limit + 1),
                      "", 1, 1.5, True, None, [], {}, ["x"]]:
            yield dict(base, **{field: value})
    yield {}
    yield {"customer_id": 1, "retailer_id": 2, "email": 3, "mobile": 4}
    yield {"customer_id": "x" * 65, "retailer_id": "y" * 27, "email": "z" * 65, "mobile": "w" * 17}


def patch_bodies():
    yield {}
    yield {"email": "new@x.io"}
    yield {"email": None, "mobile": None}
    yield {"customer_id": None}
    yield {"customer_id": "c2", "status": "disconnected"}
    for status in ["disconnected", "active", "initialized", "DISCONNECTED", None, 1, [], ""]:
        yield {"status": status}
    for field, limit in (("customer_id", 64), ("email", 64), ("mobile", 16)):
        for value in ["x" * limit, "x" * (limit + 1), 5, True, {}]:
            yield {field: value}
    yield {"customer_id": 1, "email": 2, "mobile": 3, "status": 4}


CONTENT_TYPES = [
    [JSON], [("content-type", "application/json; charset=utf-8")], [("content-type", "APPLICATION/JSON")],
    [("content-type", "application/vnd.api+json")], [("content-type", "text/plain")], [],
    [("content-type", "application/x-www-form-urlencoded")], [("content-type", "multipart/form-data; boundary=x")],
    [("content-type", "application/json;")], [("content-type", "application/jsonx")], [("content-type", "")],
    [("content-type", "text/json")], [("content-type", "application/json ; q=1")],
]


def cases():
    """(name, method, path, headers, body); {conn} is a fresh connection; {key} the API key."""
    key = [("x-api-key", "{key}")]
    token = "/connections/{conn}/token"
    for i, b in enumerate(bodies_for_token()):
        yield (f"token body {i} {b[:40]!r}", "POST", token, key + [JSON], b)
    for i, ct in enumerate(CONTENT_TYPES):
        for b in [b'{"scope":"access"}', b'{"scope":"link"}', b"", b"{", b"\xff"]:
            yield (f"token ctype {ct} {b!r}", "POST", token, key + ct, b)
    for i, d in enumerate(connection_bodies()):
        yield (f"create {i} {json.dumps(d)[:60]}", "POST", "/connections", key + [JSON], json.dumps(d).encode())
    for b in [b"", b"[]", b"{", b'"x"', b"null"]:
        yield (f"create raw {b!r}", "POST", "/connections", key + [JSON], b)
        yield (f"patch raw {b!r}", "PATCH", "/connections/{conn}", key + [JSON], b)
    for ct in CONTENT_TYPES:
        yield (f"create ctype {ct}", "POST", "/connections", key + ct, b'{"customer_id":"c","retailer_id":"r"}')
    for i, d in enumerate(patch_bodies()):
        yield (f"patch {i} {json.dumps(d)[:60]}", "PATCH", "/connections/{conn}", key + [JSON], json.dumps(d).encode())
        yield (f"patch missing {i}", "PATCH", "/connections/nope", key + [JSON], json.dumps(d).encode())
    # Reads, lists, deletes.
    for q in ["", "?customer_id=cust-1", "?customer_id=", "?customer_id=a&customer_id=cust-1", "?customer_id=%ff",
              "?customer_id=%E2%82%AC", "?CUSTOMER_ID=x", "?customer_id=cust-1&extra=1", "?customer_id",
              "?customer_id=a%20b", "?customer_id=a+b", "?&&", "?customer_id=%zz"]:
        yield (f"list {q}", "GET", "/connections" + q, key, b"")
    for path in ["/connections/{conn}", "/connections/nope", "/connections/%20", "/connections/a%2Fb",
                 "/connections/{conn}?x=1", "/connections/" + "x" * 2000, "/connections/%E2%82%AC",
                 "/connections/%ff"]:
        yield (f"get {path[:60]}", "GET", path, key, b"")
        yield (f"delete {path[:60]}", "DELETE", path, key, b"")
        yield (f"token for {path[:60]}", "POST", path + "/token" if "?" not in path else path, key + [JSON],
               b'{"scope":"access"}')
    # Wrong methods and odd paths.
    for method in ["GET", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"]:
        yield (f"{method} token", method, token, key + [JSON], b'{"scope":"access"}')
    for method in ["PUT", "POST", "OPTIONS"]:
        yield (f"{method} connection", method, "/connections/{conn}", key + [JSON], b"{}")
    for method in ["PUT", "DELETE", "PATCH"]:
        yield (f"{method} connections", method, "/connections", key + [JSON], b"{}")
    for path in ["/nope", "/", "/connections/", "/connections/{conn}/", "/connections/{conn}/token/",
                 "/connections/{conn}/tokens", "/CONNECTIONS", "/connections/{conn}/token/x", "//connections",
                 "/connections//token", "/connections/{conn}//token", "/connection/{conn}/token", "/%ff",
                 "/connections/{conn}/token?scope=access", "/.well-known/nope"]:
        for method in ["GET", "POST"]:
            yield (f"{method} {path}", method, path, key + [JSON], b'{"scope":"access"}' if method == "POST" else b"")
    # Activity, introspection and revocation.
    for q in ["", "?limit=1", "?limit=100", "?limit=0", "?limit=101", "?limit=abc", "?limit=-5", "?limit=",
              "?starting_after=zzzzzzzzzzzzzzzzzzzzzzzzzz", "?starting_after=0", "?limit=2&limit=3"]:
        yield (f"activity {q}", "GET", "/connections/{conn}/activity" + q, key, b"")
    yield ("activity missing", "GET", "/connections/nope/activity", key, b"")
    for route in ["/tokens/introspect", "/tokens/revoke"]:
        for b in [b"", b"{}", b"[]", b"{", b'"x"', b'{"token":"garbage"}', b'{"token":"a.b.c"}', b'{"token":1}',
                  b'{"token":null}', b'{"jti":"01J0000000000000000000000"}', b'{"jti":5}',
                  ('{"token":"%s"}' % ("x" * 4097)).encode(), b'{"token":"x","token_type_hint":"access_token"}',
                  ('{"token":"x","token_type_hint":"%s"}' % ("h" * 65)).encode()]:
            yield (f"{route} {b[:40]!r}", "POST", route, key + [JSON], b)
        yield (f"{route} no key", "POST", route, [JSON], b'{"token":"x"}')
    # Credentials (checked before the body on both).
    for name, hdrs in [
        ("no key", []), ("empty key", [("x-api-key", "")]), ("wrong key", [("x-api-key", "tsk_nope")]),
        ("bearer", [("authorization", "Bearer {key}")]), ("bearer colon", [("authorization", "Bearer: {key}")]),
        ("bearer lower", [("authorization", "bearer {key}")]), ("basic", [("authorization", "Basic {key}")]),
        ("bearer empty", [("authorization", "Bearer ")]), ("both, key wins", [("x-api-key", "nope"), ("authorization", "Bearer {key}")]),
        ("padded key", [("x-api-key", "  {key}  ")]),
    ]:
        for b in [b'{"scope":"access"}', b"{", b""]:
            yield (f"auth {name} {b!r}", "POST", token, hdrs + [JSON], b)
        yield (f"auth {name} create", "POST", "/connections", hdrs + [JSON], b"[]")
        yield (f"auth {name} list", "GET", "/connections", hdrs, b"")


# Deliberate deviations: (predicate on reference/tessera answers, reason). See README.
def deviation(ref, tes, body):
    rs, rb = ref
    ts, tb = tes
    if rs == 500 and ts in (400, 422):
        return "FastAPI answers 500 (a value it cannot serialize: NaN/Infinity, lone surrogates, bytes); tessera 422/400"
    if len(body) > LIMIT and ts == 413:
        return "bodies over 64 KiB are refused with 413"
    if ts == 401 and rs == 422 and isinstance(rb, dict) and isinstance(rb.get("detail"), list) \
            and rb["detail"] and rb["detail"][0].get("type") == "json_invalid":
        return "credentials are checked before the body (FastAPI decodes JSON before running dependencies)"
    if nesting(body) > 900 and rs in (400, 422) and ts in (400, 422):
        return "nesting deeper than 900: FastAPI's limit moves with its own call depth; tessera's is 960"
    return None


def nesting(body):
    depth = best = 0
    for c in body:
        if c in b"[{":
            depth += 1
            best = max(best, depth)
        elif c in b"]}":
            depth -= 1
    return best


def main():
    binary = sys.argv[1]
    tessera, tport, key = start_tessera(binary)
    reference, rport = start_reference(key)
    compared = differ = 0
    deviations = {}
    try:
        def fresh_connection(port):
            s, b = send(port, "POST", "/connections", [("x-api-key", key), JSON],
                        b'{"customer_id":"cust-1","retailer_id":"walmart","email":"a@b.co"}')
            assert s == 201, (s, b)
            return b["connection_id"]

        for name, method, path, headers, body in cases():
            answers = []
            for port in (rport, tport):
                p = path.replace("{conn}", fresh_connection(port)) if "{conn}" in path else path
                h = [(k, v.replace("{key}", key)) for k, v in headers]
                status, parsed = send(port, method, p, h, body)
                answers.append((status, normalize(parsed)))
            compared += 1
            ref, tes = answers
            if ref == tes:
                continue
            reason = deviation(ref, tes, body)
            if reason:
                deviations[reason] = deviations.get(reason, 0) + 1
                if os.environ.get("VERBOSE"):
                    print(f"DEVIATION {name}: reference {ref[0]}, tessera {tes[0]} {json.dumps(tes[1])[:200]}")
                continue
            differ += 1
            print(f"DIFF {name}\n  reference: {ref[0]} {json.dumps(ref[1])[:400]}\n  tessera:   {tes[0]} {json.dumps(tes[1])[:400]}")
    finally:
        tessera.terminate()
        reference.terminate()
    print(f"\n{compared} requests compared; {differ} differ; "
          f"{sum(deviations.values())} deliberate deviations")
    for reason, n in deviations.items():
        print(f"  {n:4d} x {reason}")
    print(f"differential: {compared - differ} passed, {differ} failed")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
