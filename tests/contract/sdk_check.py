#!/usr/bin/env python3
"""Subtotal's published SDK (`subtotal-ai-toolkit` from PyPI, unmodified) against a live tessera,
on SQLite and on PostgreSQL.

For each backend: starts `tessera serve` on a fresh database, makes a connector credential
with `tessera connector create` and adds a retailer with `tessera retailer add`, creates a
connection with the SDK, has the connector activate it and write its purchases through
`PUT /connector/connections/{id}/purchases`, then calls every function of the SDK's
`functions` module and checks each answer against what was written.

usage: sdk_check.py TESSERA_BINARY
PostgreSQL: TESSERA_TEST_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/test); a
database of its own is created and dropped. Unreachable PostgreSQL is a skip with a message,
and a failure under CI.
"""
import inspect
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import first_key_in, free_port, wait_for  # noqa: E402

from subtotal_ai_toolkit import functions  # noqa: E402
from subtotal_ai_toolkit.functions import SubtotalApiConfig  # noqa: E402

KEK = "dGVzc2VyYS10ZXN0LWtlay0zMi1ieXRlcy1leGFjdCE="
SDK_FUNCTIONS = {"create_connection", "create_merchant_link_url", "get_access_token", "get_purchases",
                 "get_purchase_details", "get_merchants"}


def must_run_everything():
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def cli(binary, env, *args):
    out = subprocess.run([binary, *args], env=env, capture_output=True, text=True, timeout=60)
    if out.returncode != 0:
        raise SystemExit(f"tessera {' '.join(args[:2])} failed: {out.stderr.strip()}")
    return out.stdout


def request(method, url, credential, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"X-Api-Key": credential, "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return resp.status, json.loads(resp.read())


def purchases_for(n):
    """n purchases, newest last, with money that a float would not keep."""
    out = []
    for i in range(n):
        out.append({
            "purchase_id": f"P{i:04d}-{uuid.uuid4().hex[:8]}",
            "date": f"2025-03-{1 + i:02d}T10:{i:02d}:00Z",
            "total": f"{100 + i}.10000000000000000001",
            "tax": "0.07",
            "subtotal": f"{100 + i}.03000000000000000001",
            "items": [{
                "item_id": f"item-{i}",
                "price": "19.99",
                "quantity": 2,
                "product": {"product_id": f"sku-{i}", "name": f"Oat milk {i}", "description": "1 litre",
                            "brand": "Oaty", "upc": "0123456789012"},
            }],
        })
    return out


def check_backend(binary, label, database_url):
    env = {k: v for k, v in os.environ.items() if not k.startswith("TESSERA_")}
    env["TESSERA_DATABASE_URL"] = database_url
    env["TESSERA_KEK"] = KEK
    # Where the first start writes its API key (stdout is a pipe); a PostgreSQL database has
    # no directory of its own for it.
    env["TESSERA_FIRST_KEY_FILE"] = os.path.join(tempfile.mkdtemp(), "first-api-key")
    port = free_port()
    proc = subprocess.Popen([binary, "serve", "--bind", f"127.0.0.1:{port}"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        key = None
        for line in proc.stdout:
            line = line.strip()
            key = first_key_in(line) or key
            if line.startswith("tessera listening on"):
                break
        wait_for(port, proc, "tessera")
        assert key, "serve printed the bootstrap API key"
        base = f"http://127.0.0.1:{port}"

        # The operator's side, through the command line.
        connector = json.loads(cli(binary, env, "connector", "create", "--name", "sdk-check", "--json"))["credential"]
        cli(binary, env, "retailer", "add", "corner-shop", "--name", "Corner Shop")
        api = SubtotalApiConfig(secret_key=key, base_url=base)

        # get_merchants: the default catalogue and the retailer just added.
        merchants = functions.get_merchants(api)
        ids = {m["merchant_id"] for m in merchants["merchants"]}
        assert {"walmart", "target", "amazon", "corner-shop"} <= ids, merchants
        assert {"merchant_id": "corner-shop", "name": "Corner Shop"} in merchants["merchants"], merchants

        # create_connection: the older generation's {merchant_id, customer_id}.
        created = functions.create_connection(api, merchant_id="corner-shop", customer_id="customer-42")
        connection_id = created["connection_id"]
        assert set(created) == {"connection_id"} and len(connection_id) == 26, created

        # create_merchant_link_url: a link-scoped connection token.
        link = functions.create_merchant_link_url(api, connection_id)
        link_token = link["connection_token"]
        claims = _claims(link_token)
        assert claims["scope"] == "link" and claims["sub"] == connection_id, claims

        # The connector activates the connection and writes its purchases (twice: idempotent).
        status, moved = request("PUT", f"{base}/connector/connections/{connection_id}/status", connector,
                                {"status": "active"})
        assert status == 200 and moved["status"] == "active", moved
        written = purchases_for(12)
        status, result = request("PUT", f"{base}/connector/connections/{connection_id}/purchases", connector,
                                 {"purchases": written})
        assert status == 200 and len(result["created"]) == 12 and result["updated"] == [], result
        status, again = request("PUT", f"{base}/connector/connections/{connection_id}/purchases", connector,
                                {"purchases": written[:3]})
        assert status == 200 and again["created"] == [] and len(again["updated"]) == 3, again

        # get_purchases: newest first, the first page of 10, money exactly as written.
        listed = functions.get_purchases(api, connection_id)
        newest_first = list(reversed(written))
        assert listed["has_more"] is True, listed
        assert [p["purchase_id"] for p in listed["purchases"]] == [p["purchase_id"] for p in newest_first[:10]]
        for got, sent in zip(listed["purchases"], newest_first):
            assert (got["date"], got["total"]) == (sent["date"], sent["total"]), (got, sent)

        # get_purchase_details: the purchase whole, items and all.
        sent = written[5]
        detail = functions.get_purchase_details(api, connection_id, sent["purchase_id"])
        for field in ("purchase_id", "date", "total", "tax", "subtotal", "items"):
            assert detail[field] == sent[field], (field, detail[field], sent[field])
        assert detail["item_count"] == 1, detail

        # get_access_token: an access token, which the link token is not.
        access = functions.get_access_token(api, connection_id)
        assert access != link_token and _claims(access)["scope"] == "access"

        # A link token unlocks no data: the same call with it is refused.
        req = urllib.request.Request(f"{base}/purchases", headers={"X-Api-Key": key,
                                                                   "Authorization": f"Bearer {link_token}"})
        try:
            urllib.request.urlopen(req, timeout=30)
            raise AssertionError("a link token read purchases")
        except urllib.error.HTTPError as e:
            assert e.code == 401, e.code

        called = {"get_merchants", "create_connection", "create_merchant_link_url", "get_purchases",
                  "get_purchase_details", "get_access_token"}
        public = {n for n, f in inspect.getmembers(functions, inspect.isfunction) if f.__module__ == functions.__name__}
        assert public == SDK_FUNCTIONS == called, f"the SDK's functions are {sorted(public)}"
        print(f"sdk ({label}): {len(called)} functions of subtotal_ai_toolkit.functions succeeded")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _b64(segment):
    import base64
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _claims(token):
    return json.loads(_b64(token.split(".")[1]))


def postgres_database():
    """A fresh database on the test PostgreSQL, as (url, drop); None when it is unreachable."""
    admin = os.environ.get("TESSERA_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test")
    u = urllib.parse.urlparse(admin)
    if shutil.which("psql") is None:
        print("sdk (postgres): psql (Debian's postgresql-client) is needed to create the test database")
        return None
    try:
        socket.create_connection((u.hostname or "127.0.0.1", u.port or 5432), timeout=2).close()
    except OSError:
        return None
    name = f"tessera_sdk_{uuid.uuid4().hex[:12]}"

    def psql(sql):
        subprocess.run(["psql", admin, "-v", "ON_ERROR_STOP=1", "-qc", sql], check=True, capture_output=True)

    psql(f"CREATE DATABASE {name}")
    return u._replace(path=f"/{name}").geturl(), lambda: psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def main():
    binary = os.path.abspath(sys.argv[1])
    failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        try:
            check_backend(binary, "sqlite", f"sqlite://{tmp}/sdk.db")
        except (AssertionError, KeyError, TypeError, SystemExit) as e:
            print(f"sdk (sqlite): FAILED: {e!r}")
            failed += 1
    pg = postgres_database()
    if pg is None:
        if must_run_everything():
            print("sdk (postgres): PostgreSQL is unreachable (or psql missing) and CI is set: failing")
            failed += 1
        else:
            print("sdk (postgres): SKIPPED: PostgreSQL is unreachable or psql is missing (set TESSERA_TEST_POSTGRES_URL)")
    else:
        url, drop = pg
        try:
            check_backend(binary, "postgres", url)
        except (AssertionError, KeyError, TypeError, SystemExit) as e:
            print(f"sdk (postgres): FAILED: {e!r}")
            failed += 1
        finally:
            drop()
    print(f"sdk: {'FAILED' if failed else 'all passed'}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
