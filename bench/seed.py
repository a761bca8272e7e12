#!/usr/bin/env python3
"""Seeds N connections (ids 01BENCH followed by 19 digits: the 26-character form connection ids take) for the default client of a migrated SQLite
tessera database. usage: seed.py DB_PATH N"""
import sqlite3
import sys
import time

db, n = sys.argv[1], int(sys.argv[2])
con = sqlite3.connect(db)
client = con.execute("SELECT id FROM clients ORDER BY created_at LIMIT 1").fetchone()[0]
now = int(time.time())
con.execute("PRAGMA synchronous=OFF")
batch = 50_000
for start in range(0, n, batch):
    con.executemany(
        "INSERT INTO connections (id, client_id, customer_id, retailer_id, email, mobile, status, created_at, updated_at)"
        " VALUES (?, ?, ?, 'walmart', NULL, NULL, 'active', ?, ?)",
        ((f"01BENCH{i:019d}", client, f"cust-{i}", now, now) for i in range(start, min(n, start + batch))),
    )
    con.commit()
print(f"seeded {n} connections for client {client}")
