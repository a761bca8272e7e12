#!/usr/bin/env python3
"""Drives one tessera server at a steady rate for a soak, and samples its storage.

usage: soak.py BACKEND BASE_URL API_KEY SERVER_PID DB OUT.tsv

BACKEND is sqlite or postgres; DB is the SQLite file path or the PostgreSQL URL. Traffic, at
SOAK_RATE tokens a second (default 250) for SOAK_SECONDS (default 1260):
  - tokens for SOAK_CONNECTIONS (200) long-lived connections;
  - every 50th token revoked (an activity event each);
  - every 100th token, a connection created and another deleted (activity events, and a
    webhook event and delivery each, delivered to a receiver in this process).
Every SOAK_SAMPLE seconds (15) a line goes to OUT.tsv and stdout: seconds, tokens, the
database's size (SQLite: file plus log; PostgreSQL: pg_total_relation_size of the retained
tables), rows per retained table, the server's RSS, and its pruning counters. At the end,
every token still live that was not revoked is introspected and must be active.
Standard library only.
"""
import base64
import http.client
import http.server
import json
import os
import random
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.parse

backend, base, key, pid, db, out_path = sys.argv[1:7]
RATE = float(os.environ.get("SOAK_RATE", "250"))
SECONDS = int(os.environ.get("SOAK_SECONDS", "1260"))
SAMPLE = int(os.environ.get("SOAK_SAMPLE", "15"))
CONNECTIONS = int(os.environ.get("SOAK_CONNECTIONS", "200"))
THREADS = 8
TABLES = ["issued_tokens", "connection_events", "idempotency_keys", "webhook_deliveries", "webhook_events"]
url = urllib.parse.urlparse(base)


class Client:
    def __init__(self):
        self.conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)

    def call(self, method, path, body=None):
        headers = {"X-Api-Key": key, "Content-Type": "application/json"}
        data = json.dumps(body) if body is not None else None
        for attempt in range(3):
            try:
                self.conn.request(method, path, body=data, headers=headers)
                r = self.conn.getresponse()
                text = r.read()
                return r.status, (json.loads(text) if text else None)
            except (http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
                if attempt == 2:
                    raise


class Receiver(http.server.BaseHTTPRequestHandler):
    received = 0

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        Receiver.received += 1
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


receiver = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
threading.Thread(target=receiver.serve_forever, daemon=True).start()

setup = Client()
status, hook = setup.call("POST", "/webhooks", {
    "name": "soak", "url": f"http://127.0.0.1:{receiver.server_port}/hook", "is_active": True,
    "event_types": ["connection.created", "connection.deleted"]})
assert status == 201, (status, hook)
connections = []
for i in range(CONNECTIONS):
    status, c = setup.call("POST", "/connections", {"customer_id": f"soak-{i}", "retailer_id": "walmart"})
    assert status == 201, (status, c)
    connections.append(c["connection_id"] if "connection_id" in c else c["id"])

lock = threading.Lock()
stats = {"tokens": 0, "revoked": 0, "churned": 0, "errors": 0}
live = []  # (exp, token) of tokens not revoked
stop = time.time() + SECONDS


def exp_of(token):
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["exp"]


def worker(n):
    client = Client()
    interval = THREADS / RATE
    next_at = time.time() + random.random() * interval
    while True:
        now = time.time()
        if now >= stop:
            return
        if next_at > now:
            time.sleep(next_at - now)
        next_at += interval
        status, body = client.call("POST", f"/connections/{random.choice(connections)}/token", {"scope": "access"})
        if status != 201:
            with lock:
                stats["errors"] += 1
            continue
        token = body["connection_token"]
        with lock:
            stats["tokens"] += 1
            count = stats["tokens"]
        if count % 50 == 0:
            status, _ = client.call("POST", "/tokens/revoke", {"token": token})
            with lock:
                stats["revoked"] += 1
            continue
        if count % 100 == 1:
            status, c = client.call("POST", "/connections", {"customer_id": f"churn-{count}", "retailer_id": "walmart"})
            if status == 201:
                client.call("DELETE", f"/connections/{c.get('connection_id') or c.get('id')}")
                with lock:
                    stats["churned"] += 1
        with lock:
            live.append((exp_of(token), token))
            # Only the last few minutes' tokens can still be live: keep the list short.
            if len(live) > RATE * 120:
                del live[: len(live) // 2]


def psql(sql):
    return subprocess.run(["psql", db, "-AtXqc", sql], capture_output=True, text=True, check=True).stdout


def sizes():
    """(database bytes, {table: rows})"""
    if backend == "sqlite":
        total = sum(os.stat(p).st_size for p in (db, db + "-wal") if os.path.exists(p))
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
        try:
            rows = {t: con.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in TABLES}
        finally:
            con.close()
        return total, rows
    names = ",".join(f"'{t}'" for t in TABLES)
    total = int(psql(f"SELECT SUM(pg_total_relation_size(oid)) FROM pg_class WHERE relname IN ({names}) AND relkind = 'r'"))
    rows = {t: int(psql(f"SELECT COUNT(*) FROM {t}")) for t in TABLES}
    return total, rows


def rss_kib():
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def pruned():
    c = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    c.request("GET", "/metrics")
    text = c.getresponse().read().decode()
    total = 0
    for line in text.splitlines():
        if line.startswith("tessera_retention_pruned_rows_total{"):
            total += int(float(line.rsplit(" ", 1)[1]))
    return total


threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(THREADS)]
start = time.time()
for t in threads:
    t.start()
out = open(out_path, "w")
header = ["t_s", "tokens", "db_bytes", "rss_kib", "pruned"] + TABLES
out.write("\t".join(header) + "\n")
print("\t".join(header), flush=True)


def sample():
    total, rows = sizes()
    with lock:
        tokens = stats["tokens"]
    line = [int(time.time() - start), tokens, total, rss_kib(), pruned()] + [rows[t] for t in TABLES]
    out.write("\t".join(map(str, line)) + "\n")
    out.flush()
    print(f"[{backend}] " + "\t".join(map(str, line)), flush=True)


sample()
while time.time() < stop:
    time.sleep(max(0.0, min(SAMPLE, stop - time.time())))
    sample()
for t in threads:
    t.join()

# Every token still live (not revoked, expiring after now) must introspect as active.
now = time.time()
with lock:
    check = [(exp, tok) for exp, tok in live if exp > now + 2]
client = Client()
inactive = 0
checked = 0
for exp, tok in check:
    # Still unexpired as it is asked about (a token verifies until 60 s past exp anyway).
    if exp <= time.time() + 1:
        continue
    checked += 1
    status, body = client.call("POST", "/tokens/introspect", {"token": tok})
    if status != 200 or not body.get("active"):
        inactive += 1
summary = dict(stats, live_checked=checked, live_inactive=inactive, webhooks_received=Receiver.received,
               seconds=int(time.time() - start))
print(f"[{backend}] SUMMARY " + json.dumps(summary), flush=True)
with open(out_path + ".summary.json", "w") as f:
    json.dump(summary, f)
sys.exit(1 if inactive or not checked else 0)
