#!/usr/bin/env python3
"""Differential test: tessera against the reference FastAPI implementation.

Starts both (tessera from the binary given, the reference app with uvicorn), sends both the
same generated requests - malformed JSON of every kind, wrong types, missing and extra fields,
over-long strings, odd and missing content types, invalid UTF-8, empty bodies, wrong methods,
odd paths, oversized bodies and headers, odd `Host` headers - and compares status, JSON body
and (for redirects) `Location`. Values that are random by design (connection ids, tokens, link
tokens, timestamps) are compared by shape; a link token's lifetime by its length in days.

The reference (reference_app.py) is this project's own reimplementation of tessera's routes on
FastAPI + Pydantic: what it proves is what FastAPI and Pydantic decide (validation errors, JSON
errors, content types, routing, status codes for malformed input). What the routes do beyond
that is tested by the Rust suites (tests/api/*.rs).

An answer that differs is accepted only as one of the deliberate deviations listed in
docs/src/api/compatibility.md (ROWS below), and only when tessera's answer is exactly what that
row promises, body included. Cases generated to trigger a row (413, 431, 408, odd `Host`)
must trigger it. The number of requests compared and the count of each row are asserted.

usage: differential.py TESSERA_BINARY
Prints each difference, a summary, and exits 1 on any difference, any broken promise, or a
count other than the expected one.
"""
import base64
import datetime
import http.client
import json
import math
import os
import re
import socket
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from common import free_port, start_tessera, wait_for  # noqa: E402
JWS = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$")
LINK_TOKEN = re.compile(r"^lt_v1_[A-Za-z0-9_-]{43}$")
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
LIMIT = 64 * 1024          # tessera's body limit (src/http/json.rs)
HEADER_LIMIT = 16 * 1024   # tessera's header-size limit (src/http/mod.rs)
MAX_FIELDS = 64            # tessera's header-field limit (src/http/server.rs)
BODY_TIMEOUT = 2           # --body-timeout given to tessera here
sys.setrecursionlimit(20000)

# The wordings tessera promises (src/http/error.rs, src/http/extract.rs).
MISSING = "Not authenticated: send an API key in the X-Api-Key header"
INVALID = "Invalid API key"
TOO_LARGE = {"detail": f"Request body too large: the limit is {LIMIT} bytes"}
HEADERS_TOO_LARGE = {"detail": f"Request headers too large: the limit is {HEADER_LIMIT} bytes"}
TIMEOUT = {"detail": f"Request body not received within {BODY_TIMEOUT} seconds"}
PARSE_ERROR = {"detail": "There was an error parsing the body"}

# The manual's table of deliberate differences ("Compatibility"), one key per row.
ROWS = {
    "non-finite": "NaN/Infinity, a lone surrogate, non-UTF-8 non-JSON bytes: FastAPI 500, tessera 422 echoing strings/U+FFFD",
    "auth-first": "malformed JSON without valid credentials: FastAPI 422, tessera 401",
    "nesting": "nesting deeper than about 900: FastAPI 400/422 by call depth, tessera 400 past 960 levels",
    "body-413": "bodies over 64 KiB: FastAPI accepts, tessera 413 with a detail",
    "headers-431": "headers over 16 KiB or more than 64 fields: FastAPI accepts, tessera 431",
    "timeout-408": "a body not arriving within --body-timeout: FastAPI waits, tessera 408 with a detail",
    "host-307": "trailing-slash 307 with a Host that is not host[:port]: Location is the path alone",
}
# How often the rows that arise from ordinary cases fire. Pinned: a change is a change in
# tessera or in FastAPI and must be looked at (and this number updated) deliberately. Rows
# with generated cases (413, 431, 408, odd Host) are counted from their generators instead.
ORGANIC = {"non-finite": 13, "auth-first": 12, "nesting": 1}
# The generators must not shrink unnoticed: fewer cases than this fails the run.
MIN_CASES = 729


class SetupFailed(Exception):
    """A case's placeholder ({lt}, {lt-revoked}) could not be made on one of the servers."""


def start_reference(key):
    port = free_port()
    env = dict(os.environ, REF_API_KEY=key)
    # h11's default 16 KiB header buffer would refuse the 431 cases before FastAPI saw them;
    # the manual compares tessera's limits with an application that accepts them.
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "reference_app:app", "--app-dir", HERE, "--port", str(port),
         "--log-level", "warning", "--h11-max-incomplete-event-size", str(1 << 20)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    wait_for(port, proc, "reference app")
    return proc, port


def send(port, method, path, headers, body):
    """(status, parsed JSON body, Location of a redirect); status None when no answer came."""
    own_host = any(k.lower() == "host" for k, _ in headers)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True, skip_host=own_host)
        for k, v in headers:
            conn.putheader(k, v)
        if body or method in ("POST", "PUT", "PATCH"):
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        r = conn.getresponse()
        raw = r.read()
    except (OSError, http.client.HTTPException) as e:
        return None, {"_error": type(e).__name__}, None
    finally:
        conn.close()
    try:
        parsed = json.loads(raw) if raw else None
    except ValueError:
        parsed = {"_raw": raw.decode("utf-8", "replace")[:200]}
    location = r.getheader("location") if 300 <= r.status < 400 else None
    if location:
        location = location.replace(f"127.0.0.1:{port}", "<host>")
    return r.status, parsed, location


def lifetime(v):
    """Whole days from created_at to expires_at in a link token's answer, else None."""
    try:
        start, end = (datetime.datetime.fromisoformat(v[k].replace("Z", "+00:00")) for k in ("created_at", "expires_at"))
    except (KeyError, TypeError, AttributeError, ValueError):
        return None
    if not (RFC3339.match(v["created_at"]) and RFC3339.match(v["expires_at"])):
        return None
    delta = end - start
    return delta.days if delta == datetime.timedelta(days=delta.days) else None


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
            elif k == "link_token" and isinstance(x, str) and LINK_TOKEN.match(x):
                out[k] = "<link_token>"
            elif k == "expires_at" and lifetime(v) is not None:
                out[k] = f"<created_at + {lifetime(v)} days>"
            elif k in ("created_at", "expires_at", "revoked_at") and isinstance(x, str) and RFC3339.match(x):
                out[k] = "<time>"
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
                  'true', 'false', '[]', '["access"]', '{}', '{"a":1}', '"\\u0061ccess"', '"\\ud83d\\ude00"', '"\\ud800"', '"a\\udfffb"',
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


def link_token_bodies():
    """POST /link-tokens bodies, raw: the number literals must reach both servers as written."""
    d = json.dumps
    base = {"customer_id": "cust-lt"}
    for body in [base, dict(base, email="a@b.co", expires_in_days=30), dict(base, email=None),
                 dict(base, extra=1), dict(base, link_token="lt_v1_" + "a" * 43, status="revoked", revoked_at="x"),
                 {}, {"email": "a@b.co"}, {"expires_in_days": 30}, {"Customer_ID": "cust-lt"},
                 {"customer_id": None, "email": 5, "expires_in_days": "abc"},
                 {"customer_id": "", "email": "x" * 65, "expires_in_days": 0, "extra": []}]:
        yield d(body)
    for value in ["", " ", "x" * 64, "x" * 65, "é" * 64, "é" * 65, "😀" * 64, "😀" * 65, 1, 0, 1.5, True, False,
                  None, [], {}, ["x"]]:
        yield d({"customer_id": value})
    for value in [None, "", "x" * 64, "x" * 65, "é" * 65, 5, 1.5, True, [], {}]:
        yield d(dict(base, email=value))
    # expires_in_days, as JSON literals.
    for literal in ["0", "1", "365", "366", "-1", '"30"', '"abc"', "30.0", "30.5", "true", "false", "null", "[]",
                    "{}", "1e3", "1E2", "3.65e2", "1e-3", "-0", "0.0", "1.0", "365.0", "365.5", "-1.5",
                    "100000000000000000000", "9223372036854775807", "9223372036854775808",
                    "18446744073709551616", "-9223372036854775809", "1" + "0" * 100, '""', '" 30"', '"30.0"',
                    '"+30"', '"1_0"', '"0x1e"', '"365"', '"366"', '"1e2"', '"30 days"', "[30]"]:
        yield '{"customer_id":"cust-lt","expires_in_days":%s}' % literal
    # Malformed and non-object bodies.
    yield from ["", "not json", "[]", "null", '"cust-lt"', "1", "{", "  ", '{"customer_id":"a",}',
                '[{"customer_id":"cust-lt"}]', '{"customer_id":"a","customer_id":"cust-lt"}',
                '{"customer_id":"cust-lt"} x']


LINK_CREDENTIALS = [
    ("no key", []), ("empty key", [("x-api-key", "")]), ("wrong key", [("x-api-key", "tsk_nope")]),
    ("bearer", [("authorization", "Bearer {key}")]), ("bearer colon", [("authorization", "Bearer: {key}")]),
    ("bearer lower", [("authorization", "bearer {key}")]), ("basic", [("authorization", "Basic {key}")]),
    ("bearer empty", [("authorization", "Bearer ")]),
    ("both, key wins", [("x-api-key", "nope"), ("authorization", "Bearer {key}")]),
    ("padded key", [("x-api-key", "  {key}  ")]),
]


def link_token_cases():
    """The link-token routes; {lt} is a fresh active link token (customer cust-del), {lt-revoked}
    one revoked already."""
    key = [("x-api-key", "{key}")]
    for i, b in enumerate(link_token_bodies()):
        yield (f"link create {i} {b[:60]}", "POST", "/link-tokens", key + [JSON], b.encode("utf-8"))
    for ct in [[("content-type", "text/plain")], [], [("content-type", "application/vnd.api+json")],
               [("content-type", "application/json; charset=utf-8")]]:
        yield (f"link create ctype {ct}", "POST", "/link-tokens", key + ct, b'{"customer_id":"cust-lt"}')
    for q in ["", "?customer_id=", "?customer_id=cust-lt", "?customer_id=cust-lt&status=active",
              "?customer_id=cust-lt&status=revoked", "?customer_id=cust-lt&status=expired",
              "?customer_id=cust-lt&status=ACTIVE", "?customer_id=cust-lt&status=", "?customer_id=cust-lt&status=bogus",
              "?customer_id=cust-lt&status=1", "?customer_id=cust-lt&status=active&status=revoked", "?status=active",
              "?status=bogus", "?customer_id=nobody", "?customer_id=a&customer_id=cust-lt", "?customer_id=%ff",
              "?customer_id=" + "x" * 65, "?customer_id=cust-lt&extra=1", "?customer_id", "?customer_id=%20",
              "?CUSTOMER_ID=cust-lt", "?customer_id=cust-del"]:
        yield (f"link list {q[:60]}", "GET", "/link-tokens" + q, key, b"")
    unknown = "lt_v1_" + "A" * 43
    for token in ["{lt}", "{lt-revoked}", "{lt}?x=1", unknown, "lt_v1_" + "-_" * 21 + "a",
                  "lt_v1_" + "a" * 42, "lt_v1_" + "a" * 44, "lt_v1_", "x", "x" * 49, "x" * 500,
                  "lt_v2_" + "a" * 43, "LT_V1_" + "a" * 43, "lt_v1_" + "a" * 42 + "!", "lt_v1_" + "a" * 42 + ".",
                  "lt_v1_" + "a" * 42 + "%2B", "lt_v1_" + "a" * 42 + "%20", "lt_v1_" + "a" * 42 + "%0A",
                  "lt_v1_" + "a" * 42 + "%C3%A9", "lt_v1_" + "%C3%A9" * 43, "lt_v1_" + "a" * 42 + "%ff",
                  "lt_v1_" + "a" * 21 + "%2F" + "a" * 21, "%20" * 49]:
        yield (f"link delete {token[:60]}", "DELETE", "/link-tokens/" + token, key, b"")
    yield ("link delete, unknown, with a body", "DELETE", "/link-tokens/" + unknown, key + [JSON], b'{"x":1}')
    yield ("link list revoked", "GET", "/link-tokens?customer_id=cust-del&status=revoked", key, b"")
    yield ("link list active", "GET", "/link-tokens?customer_id=cust-del&status=active", key, b"")
    # Wrong methods and odd paths.
    for method in ["GET", "POST", "PUT", "PATCH"]:
        yield (f"link {method} one", method, "/link-tokens/" + unknown, key + [JSON], b'{"customer_id":"cust-lt"}')
    for method in ["PUT", "PATCH", "DELETE", "OPTIONS"]:
        yield (f"link {method} collection", method, "/link-tokens", key + [JSON], b'{"customer_id":"cust-lt"}')
    for method, path in [("GET", "/link-tokens/?customer_id=cust-lt"), ("POST", "/link-tokens/"),
                         ("DELETE", "/link-tokens/"), ("DELETE", "/link-tokens/{lt}/"), ("GET", "/LINK-TOKENS"),
                         ("POST", "/link-token"), ("POST", "/link_tokens"), ("DELETE", "/link-tokens/x/y"),
                         ("DELETE", "/link-tokens//" + unknown)]:
        yield (f"link {method} {path[:60]}", method, path, key + [JSON],
               b'{"customer_id":"cust-lt"}' if method == "POST" else b"")
    # Credentials (checked before the body, the query and the path on both).
    for name, hdrs in LINK_CREDENTIALS:
        yield (f"link auth {name} create", "POST", "/link-tokens", hdrs + [JSON], b'{"customer_id":"cust-auth"}')
        yield (f"link auth {name} create, bad JSON", "POST", "/link-tokens", hdrs + [JSON], b"{")
        yield (f"link auth {name} create, invalid", "POST", "/link-tokens", hdrs + [JSON], b'{"customer_id":""}')
        yield (f"link auth {name} list", "GET", "/link-tokens?customer_id=cust-auth", hdrs, b"")
        yield (f"link auth {name} list, no customer", "GET", "/link-tokens", hdrs, b"")
        yield (f"link auth {name} delete", "DELETE", "/link-tokens/{lt}", hdrs, b"")
        yield (f"link auth {name} delete, malformed", "DELETE", "/link-tokens/short", hdrs, b"")


def designed_cases():
    """Cases made to trigger the Compatibility rows that ordinary requests never reach, each with the
    row it must trigger (None: it sits just inside a limit and must be answered identically)."""
    key = [("x-api-key", "{key}")]
    token = "/connections/{conn}/token"

    def sized(n, head=b'{"scope":"access","pad":"', tail=b'"}'):
        return head + b"x" * (n - len(head) - len(tail)) + tail

    # 413: bodies over 64 KiB, on every route that reads one; exactly 64 KiB is accepted.
    yield ("body of exactly 64 KiB", "POST", token, key + [JSON], sized(LIMIT), None)
    yield ("body of 64 KiB + 1", "POST", token, key + [JSON], sized(LIMIT + 1), "body-413")
    yield ("body of 100 KiB", "POST", token, key + [JSON], sized(100 * 1024), "body-413")
    yield ("text body of 100 KiB", "POST", token, key + [("content-type", "text/plain")], b"x" * 100 * 1024,
           "body-413")
    yield ("create, 100 KiB", "POST", "/connections", key + [JSON],
           sized(100 * 1024, b'{"customer_id":"c","retailer_id":"r","pad":"'), "body-413")
    yield ("patch, 100 KiB", "PATCH", "/connections/{conn}", key + [JSON], sized(100 * 1024, b'{"pad":"'),
           "body-413")
    for route in ["/tokens/introspect", "/tokens/revoke"]:
        yield (f"{route}, 100 KiB", "POST", route, key + [JSON], sized(100 * 1024, b'{"token":"'), "body-413")
    yield ("link create, exactly 64 KiB", "POST", "/link-tokens", key + [JSON],
           sized(LIMIT, b'{"customer_id":"cust-big","pad":"'), None)
    yield ("link create, 100 KiB", "POST", "/link-tokens", key + [JSON],
           sized(100 * 1024, b'{"customer_id":"cust-big","pad":"'), "body-413")
    # 431: header bytes over 16 KiB (in one field or many), and more than 64 fields.
    yield ("headers of 15 KiB", "GET", "/connections", key + [("x-pad", "a" * 15 * 1024)], b"", None)
    yield ("one 17 KiB header", "GET", "/connections", key + [("x-pad", "a" * 17 * 1024)], b"", "headers-431")
    yield ("one 17 KiB header, token", "POST", token, key + [JSON, ("x-pad", "a" * 17 * 1024)],
           b'{"scope":"access"}', "headers-431")
    yield ("30 headers of 600 bytes", "GET", "/connections", key + [(f"x-pad-{i}", "b" * 600) for i in range(30)],
           b"", "headers-431")
    # Host and X-Api-Key are two of the fields.
    yield ("64 header fields", "GET", "/connections", key + [(f"x-f{i}", "1") for i in range(MAX_FIELDS - 2)],
           b"", None)
    yield ("65 header fields", "GET", "/connections", key + [(f"x-f{i}", "1") for i in range(MAX_FIELDS - 1)],
           b"", "headers-431")
    yield ("100 header fields", "POST", token, key + [JSON] + [(f"x-f{i}", "1") for i in range(97)],
           b'{"scope":"access"}', "headers-431")
    # Trailing-slash redirects: a plain Host is echoed by both; anything else only by FastAPI.
    for host in ["tessera.example", "tessera.example:8080", "[::1]:8080"]:
        yield (f"307 Host {host}", "GET", "/connections/", [("host", host)] + key, b"", None)
    for host in ["evil.example/phish?", "evil.example/", "user@evil.example", "evil.example:99999",
                 "evil.example#"]:
        yield (f"307 Host {host}", "GET", "/connections/", [("host", host)] + key, b"", "host-307")
    yield ("307 Host evil, token route", "POST", "/connections/{conn}/token/", [("host", "evil.example/x?")] + key
           + [JSON], b'{"scope":"access"}', "host-307")


def all_cases():
    for c in cases():
        yield c + (None,)
    for c in link_token_cases():
        yield c + (None,)
    yield from designed_cases()


# ---- the Compatibility rows, each checked against what it promises ------------------------------

def is_json_type(headers):
    ctype = next((v for k, v in headers if k.lower() == "content-type"), "")
    ctype = ctype.split(";")[0].strip().lower()
    major, _, minor = ctype.partition("/")
    return ctype.count("/") == 1 and major == "application" and (minor == "json" or minor.endswith("+json"))


def sanitized(body, headers):
    """The body as tessera reads it: non-finite numbers as the strings "NaN", "Infinity",
    "-Infinity", lone surrogates and undecodable bytes as U+FFFD. None if that cannot be said."""
    if not is_json_type(headers):
        return body.decode("utf-8", "replace").encode("utf-8")

    def number(text):
        v = float(text)
        return v if math.isfinite(v) else ("-Infinity" if text.startswith("-") else "Infinity")

    def clean(v):
        if isinstance(v, str):
            return re.sub("[\ud800-\udfff]", "\ufffd", v)
        if isinstance(v, list):
            return [clean(x) for x in v]
        if isinstance(v, dict):
            return {clean(k): clean(x) for k, x in v.items()}
        return v

    try:
        value = json.loads(body, parse_constant=lambda c: c, parse_float=number)
    except ValueError:
        return None
    return json.dumps(clean(value)).encode()


def classify(case, ref, tes):
    """Which Compatibility row a difference falls under, if any."""
    _, _, _, _, body, _ = case
    (rs, rb, rloc), (ts, tb, tloc) = ref, tes
    if len(body) > LIMIT:
        return "body-413"
    if rs == 500:
        return "non-finite"
    if ts == 401 and rs == 422 and isinstance(rb, dict) and isinstance(rb.get("detail"), list) \
            and rb["detail"] and rb["detail"][0].get("type") == "json_invalid":
        return "auth-first"
    if nesting(body) > 900:
        return "nesting"
    if rs == ts == 307 and rb == tb and rloc != tloc and any(k.lower() == "host" for k, _ in case[3]):
        return "host-307"
    return None


def broken_promise(row, case, ref, tes, reference):
    """None when tessera answered exactly as the Compatibility row says; otherwise what is wrong.
    `reference(body)` sends the reference the same request with another body."""
    _, method, path, headers, body, _ = case
    rs, rb, rloc = ref
    if row == "body-413":
        return None if tes == (413, TOO_LARGE, None) else f"expected 413 {TOO_LARGE}"
    if row == "headers-431":
        if rs is None or rs >= 500 or rs == 431 or not isinstance(rb, dict):
            return f"the reference did not accept the headers (it answered {rs})"
        fields = len(headers) + 1 + (1 if body or method in ("POST", "PUT", "PATCH") else 0)
        if fields > MAX_FIELDS:
            # hyper refuses the request before it is parsed: a bare 431.
            return None if tes == (431, None, None) else "expected a bare 431 from the connection layer"
        return None if tes == (431, HEADERS_TOO_LARGE, None) else f"expected 431 {HEADERS_TOO_LARGE}"
    if row == "non-finite":
        twin = sanitized(body, headers)
        if twin is None:
            return "a 500 from the reference for a body that is not NaN/Infinity/surrogates/bytes"
        expected = reference(twin)
        if tes[0] != 422 or tes != expected:
            return f"expected what the reference answers for {twin[:60]!r}: {expected[0]} {json.dumps(expected[1])[:200]}"
        return None
    if row == "auth-first":
        expected = reference(b"{}")
        if expected[0] != 401 or tes != expected or tes[1].get("detail") not in (MISSING, INVALID):
            return f"expected the 401 these credentials get with a well-formed body: {expected}"
        return None
    if row == "nesting":
        if rs not in (400, 422):
            return f"the reference answered {rs}, not 400 or 422"
        if nesting(body) > 960:
            expected = (400, PARSE_ERROR, None)
        else:
            # Within tessera's limit it answers what CPython's json decides with room to recurse.
            try:
                value = json.loads(body)
            except json.JSONDecodeError as e:
                expected = (422, {"detail": [{"type": "json_invalid", "loc": ["body", e.pos], "msg": "JSON decode error",
                                              "input": {}, "ctx": {"error": e.msg}}]}, None)
            else:
                if isinstance(value, dict):
                    return "no expectation for a deep object within 960 levels"
                expected = (422, {"detail": [{"type": "model_attributes_type", "loc": ["body"],
                                              "msg": "Input should be a valid dictionary or object to extract fields from",
                                              "input": value}]}, None)
        return None if tes == expected else f"expected {str(expected)[:200]}"
    if row == "host-307":
        trimmed = path.split("?")[0].rstrip("/")
        if re.fullmatch(r"/connections/[^/]+/token", trimmed) is None and trimmed != "/connections":
            return "not a trailing-slash redirect"
        if tes[0] != 307 or tes[2] is None or not tes[2].startswith("/connections") or "evil" in tes[2]:
            return "expected a 307 to the path alone"
        # Starlette builds an absolute URL: current releases name the server's own address
        # when the Host is not a valid host[:port]; older ones echoed the Host as sent.
        if rs != 307 or not (rloc or "").startswith("http://"):
            return f"expected the reference to redirect to an absolute http:// URL, got {rloc}"
        return None
    return f"no such row {row}"


def nesting(body):
    depth = best = 0
    for c in body:
        if c in b"[{":
            depth += 1
            best = max(best, depth)
        elif c in b"]}":
            depth -= 1
    return best


# ---- 408: a body that never finishes, over a raw socket ------------------------------------

SLOW_CASES = [
    # (name, path, declared Content-Length, bytes of body actually sent)
    ("token, 5 of 18 body bytes", "/connections/{conn}/token", 18, b'{"sco'),
    ("token, headers only", "/connections/{conn}/token", 18, b""),
    ("create, 10 of 100 body bytes", "/connections", 100, b'{"customer'),
]


def slow_request(port, key, path, declared, sent, wait):
    """Sends headers and part of a body, then waits up to `wait` seconds for an answer:
    (status, parsed body, seconds) or (None, None, seconds) when nothing came."""
    s = socket.create_connection(("127.0.0.1", port))
    s.settimeout(wait)
    head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nX-Api-Key: {key}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {declared}\r\n\r\n").encode()
    start = time.monotonic()
    s.sendall(head + sent)
    data = b""
    try:
        while True:
            if b"\r\n\r\n" in data:
                top, _, rest = data.partition(b"\r\n\r\n")
                m = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", top)
                if m and len(rest) >= int(m.group(1)):
                    break
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    except socket.timeout:
        pass
    finally:
        s.close()
    elapsed = time.monotonic() - start
    if not data:
        return None, None, elapsed
    top, _, rest = data.partition(b"\r\n\r\n")
    status = int(top.split(b" ")[1])
    try:
        parsed = json.loads(rest) if rest else None
    except ValueError:
        parsed = {"_raw": rest[:200].decode("utf-8", "replace")}
    return status, parsed, elapsed


def run_slow_cases(tport, rport, key, fresh_connection):
    """Each case on both servers at once; yields (name, problem or None)."""
    jobs = []
    for name, path, declared, sent in SLOW_CASES:
        for port in (tport, rport):
            p = path.replace("{conn}", fresh_connection(port))
            jobs.append((name, port, p, declared, sent))
    results = {}

    def run(job):
        name, port, p, declared, sent = job
        results[(name, port)] = slow_request(port, key, p, declared, sent, BODY_TIMEOUT + 4)

    threads = [threading.Thread(target=run, args=(j,)) for j in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for name, *_ in SLOW_CASES:
        ts, tb, telapsed = results[(name, tport)]
        rs, _, relapsed = results[(name, rport)]
        if (ts, tb) != (408, TIMEOUT) or not BODY_TIMEOUT - 0.5 <= telapsed <= BODY_TIMEOUT + 3:
            yield name, f"tessera: expected 408 {TIMEOUT} after about {BODY_TIMEOUT} s, got {ts} {tb} after {telapsed:.1f} s"
        elif rs is not None:
            yield name, f"the reference answered {rs} after {relapsed:.1f} s instead of waiting"
        else:
            yield name, None


def main():
    binary = sys.argv[1]
    tessera, tport, key = start_tessera(binary, ["--body-timeout", str(BODY_TIMEOUT)])
    ref_proc, rport = start_reference(key)
    generated = list(all_cases())
    expected_cases = len(generated) + len(SLOW_CASES)
    expected_rows = dict(ORGANIC)
    for *_, row in generated:
        if row:
            expected_rows[row] = expected_rows.get(row, 0) + 1
    expected_rows["timeout-408"] = len(SLOW_CASES)
    compared = differ = 0
    rows = {r: 0 for r in ROWS}
    try:
        def fresh_connection(port):
            s, b, _ = send(port, "POST", "/connections", [("x-api-key", key), JSON],
                           b'{"customer_id":"cust-1","retailer_id":"walmart","email":"a@b.co"}')
            assert s == 201, (s, b)
            return b["connection_id"]

        def fresh_link_token(port):
            s, b, _ = send(port, "POST", "/link-tokens", [("x-api-key", key), JSON], b'{"customer_id":"cust-del"}')
            if s != 201 or not isinstance(b, dict) or not LINK_TOKEN.match(str(b.get("link_token"))):
                raise SetupFailed(f"creating a link token on port {port}: {s} {json.dumps(b)[:200]}")
            return b["link_token"]

        def ask(port, method, path, headers, body):
            made = {}
            if "{conn}" in path:
                made["{conn}"] = (fresh_connection(port), "<id>")
            if "{lt}" in path:
                made["{lt}"] = (fresh_link_token(port), "<link_token>")
            if "{lt-revoked}" in path:
                token = fresh_link_token(port)
                s, b, _ = send(port, "DELETE", "/link-tokens/" + token, [("x-api-key", key)], b"")
                if s != 204:
                    raise SetupFailed(f"revoking a link token on port {port}: {s} {json.dumps(b)[:200]}")
                made["{lt-revoked}"] = (token, "<link_token>")
            p = path
            for placeholder, (value, _) in made.items():
                p = p.replace(placeholder, value)
            h = [(k, v.replace("{key}", key)) for k, v in headers]
            status, parsed, location = send(port, method, p, h, body)
            if location:
                for value, shown in made.values():
                    location = location.replace(value, shown)
            return status, normalize(parsed), location

        for case in generated:
            name, method, path, headers, body, designed = case
            compared += 1
            try:
                ref = ask(rport, method, path, headers, body)
                tes = ask(tport, method, path, headers, body)
            except SetupFailed as e:
                differ += 1
                print(f"DIFF {name}: the case could not be set up: {e}")
                continue
            if ref == tes and designed is None:
                continue
            row = designed or classify(case, ref, tes)
            if ref == tes:
                problem = f"both answered {tes[0]}: the Compatibility row '{row}' did not apply"
            elif row is None:
                problem = "differs, and no Compatibility row covers it"
            else:
                def reference(twin):
                    # Sent to both, so that both keep the same state; the reference's answer counts.
                    ask(tport, method, path, headers, twin)
                    return ask(rport, method, path, headers, twin)

                problem = broken_promise(row, case, ref, tes, reference)
            if problem is None:
                rows[row] += 1
                if os.environ.get("VERBOSE"):
                    print(f"DEVIATION [{row}] {name}: reference {ref[0]}, tessera {tes[0]} {json.dumps(tes[1])[:200]}")
                continue
            differ += 1
            print(f"DIFF {name} [{row}]: {problem}\n  reference: {ref[0]} {json.dumps(ref[1])[:400]} {ref[2] or ''}"
                  f"\n  tessera:   {tes[0]} {json.dumps(tes[1])[:400]} {tes[2] or ''}")
        for name, problem in run_slow_cases(tport, rport, key, fresh_connection):
            compared += 1
            if problem is None:
                rows["timeout-408"] += 1
            else:
                differ += 1
                print(f"DIFF {name} [timeout-408]: {problem}")
    finally:
        tessera.terminate()
        ref_proc.terminate()
    print(f"\n{compared} requests compared; {differ} differ; {sum(rows.values())} deliberate deviations")
    print("deviations by Compatibility row (Compatibility):")
    for row, text in ROWS.items():
        print(f"  {rows[row]:4d} x [{row}] {text}")
    failures = differ
    if compared != expected_cases:
        failures += 1
        print(f"FAIL: {compared} requests compared, {expected_cases} generated")
    if expected_cases < MIN_CASES:
        failures += 1
        print(f"FAIL: only {expected_cases} cases generated; at least {MIN_CASES} expected (MIN_CASES)")
    for row in ROWS:
        if rows[row] != expected_rows.get(row, 0):
            failures += 1
            print(f"FAIL: Compatibility row [{row}] counted {rows[row]} times, {expected_rows.get(row, 0)} expected")
    print(f"differential: {compared - differ} passed, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
