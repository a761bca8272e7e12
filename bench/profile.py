#!/usr/bin/env python3
"""Summarizes a flat perf report (perf report --no-children --sort comm,dso,sym -g none) of the
token server: the share of its CPU samples by thread and by what the code is doing.

usage: profile.py perf.txt  (markdown on stdout)"""
import re
import sys

# First match wins; patterns are tried against "dso symbol".
CATEGORIES = [
    ("Ed25519 signing (aws-lc scalar multiplication, SHA-512)", r"curve25519|ed25519|edwards25519|sha512|subtle::|aws_lc"),
    ("HMAC / SHA-256 (HS256, API key digest)", r"sha256|hmac"),
    ("SQLite engine", r"sqlite3|pcache|pager|btree|wal[A-Z]|vdbe"),
    ("kernel: file writes and fsync", r"\[k\] .*(ext4|filemap|folio|block_|fsync|vfs_write|pwrite|iomap|jbd2|writeback|mark_buffer)"),
    ("kernel: TCP/IP (loopback)", r"\[k\] .*(tcp|ip_|sock|skb|net_|napi|inet|dev_queue|__x64_sys_(recv|send|writev|readv)|loopback)"),
    ("kernel: scheduling, futex, epoll", r"\[k\] .*(futex|schedule|switch|wake|epoll|hrtimer|rseq|irq|softirq|spin)"),
    ("kernel: other", r"\[k\]"),
    ("allocator (mimalloc)", r"\bmi_|_mi_|malloc|free\b|cfree|realloc"),
    ("logging (tracing)", r"tracing"),
    ("JSON (request parse, response, claims)", r"serde_json|pyjson|serde_core|base64"),
    ("HTTP (hyper, axum, tower, http)", r"hyper|axum|tower|http::|httparse|h1::"),
    ("tokio runtime and channels", r"tokio|mio::|flume|futures_"),
    ("sqlx", r"sqlx"),
    ("libc: memory copies and syscalls", r"libc|memmove|memcpy|memset|memcmp|syscall|vdso"),
]

rows = []
for line in open(sys.argv[1]):
    m = re.match(r"\s*([\d.]+)%\s+(\S+)\s+(\S+)\s+(.*)$", line)
    if m:
        rows.append((float(m.group(1)), m.group(2), m.group(3), m.group(4).strip()))

total = sum(r[0] for r in rows) or 1.0
by_thread, by_category = {}, {}
for pct, comm, dso, sym in rows:
    thread = re.sub(r"[-_]?\d+$", "", comm)
    by_thread[thread] = by_thread.get(thread, 0.0) + pct
    name = next((n for n, p in CATEGORIES if re.search(p, f"{dso} {sym}")), "other (tessera and dependencies)")
    by_category[name] = by_category.get(name, 0.0) + pct

print("| thread | share of samples |\n|---|---|")
for t, p in sorted(by_thread.items(), key=lambda kv: -kv[1]):
    print(f"| {t} | {p / total:.0%} |")
print("\n| what | share of samples |\n|---|---|")
for c, p in sorted(by_category.items(), key=lambda kv: -kv[1]):
    print(f"| {c} | {p / total:.1%} |")
print("\nTop symbols:\n\n| share | thread | symbol |\n|---|---|---|")
for pct, comm, dso, sym in sorted(rows, key=lambda r: -r[0])[:15]:
    print(f"| {pct / total:.1%} | {comm} | `{sym.replace('|', '/')[:90]}` |")
