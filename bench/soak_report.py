#!/usr/bin/env python3
"""Turns the soak's samples (bench/results/soak-*.tsv, written by bench/soak.py) and the p99
comparison (soak-p99.tsv) into BENCHMARKS.md's soak section (stdout) and bench/soak.svg.

usage: soak_report.py RESULTS_DIR"""
import csv
import json
import os
import sys

results = sys.argv[1]
BACKEND = {"sqlite": "SQLite", "postgres": "PostgreSQL"}
COLOR = {"sqlite": "#2a7", "postgres": "#36c"}
runs = {}
for b in BACKEND:
    path = os.path.join(results, f"soak-{b}.tsv")
    if os.path.exists(path):
        rows = [{k: int(v) for k, v in r.items()} for r in csv.DictReader(open(path), delimiter="\t")]
        summary = json.load(open(path + ".summary.json")) if os.path.exists(path + ".summary.json") else {}
        if rows:
            runs[b] = (rows, summary)

MIB = 1024 * 1024
out = []
p = out.append
p("## Soak: storage levels off under retention\n")
p("`bench/soak.sh`: each backend's server (both at once, on the same 2-core machine) gets tokens at a")
p("steady rate with `--token-ttl 60 --retention-issuance 120 --retention-events 120")
p("--retention-webhooks 120 --prune-interval 10` (default batch of 500 rows); one token in 50 is revoked")
p("and one in 100 comes with a connection created and deleted (activity events, and webhook events")
p("delivered to a local receiver). Every 15 s the database size (SQLite: file plus log; PostgreSQL:")
p("`pg_total_relation_size` of the retained tables), the rows and the server's RSS are sampled. Without")
p("retention, issuance rows would grow by the token rate times the run's length.\n")


def at(rows, t):
    return min(rows, key=lambda r: abs(r["t_s"] - t))


for b, (rows, s) in runs.items():
    end = rows[-1]
    rate = end["tokens"] / max(end["t_s"], 1)
    half = at(rows, end["t_s"] / 2)
    five = at(rows, 300)
    growth = (end["db_bytes"] - half["db_bytes"]) / half["db_bytes"] if half["db_bytes"] else 0
    p(f"### {BACKEND[b]}\n")
    p(f"{end['tokens']:,} tokens in {end['t_s'] / 60:.1f} min ({rate:.0f}/s), {end['pruned']:,} rows pruned; "
      f"at the end {s.get('live_checked', 0):,} live tokens introspected, {s.get('live_inactive', '?')} of them "
      f"inactive; {s.get('errors', 0)} failed requests; {s.get('webhooks_received', 0):,} webhooks delivered.\n")
    p(f"- database: {five['db_bytes'] / MIB:.1f} MiB at {five['t_s'] / 60:.0f} min, {half['db_bytes'] / MIB:.1f} MiB "
      f"at {half['t_s'] / 60:.0f} min, {end['db_bytes'] / MIB:.1f} MiB at the end ({growth:+.0%} over the second half, "
      f"while {end['tokens'] - half['tokens']:,} more tokens were issued)")
    p(f"- issued_tokens rows: {five['issued_tokens']:,} / {half['issued_tokens']:,} / {end['issued_tokens']:,} "
      f"(steady state about rate x (TTL + window + interval) = {rate * 190:,.0f})")
    p(f"- RSS: {five['rss_kib'] / 1024:.1f} / {half['rss_kib'] / 1024:.1f} / {end['rss_kib'] / 1024:.1f} MiB\n")
    p("| min | tokens | database MiB | issued_tokens | connection_events | webhook_deliveries | webhook_events | RSS MiB |")
    p("|---|---|---|---|---|---|---|---|")
    shown = [r for i, r in enumerate(rows) if i % 8 == 0 or r is end]
    for r in shown:
        p(f"| {r['t_s'] / 60:.1f} | {r['tokens']:,} | {r['db_bytes'] / MIB:.1f} | {r['issued_tokens']:,} | "
          f"{r['connection_events']:,} | {r['webhook_deliveries']:,} | {r['webhook_events']:,} | {r['rss_kib'] / 1024:.1f} |")
    p("")

p99_path = os.path.join(results, "soak-p99.tsv")
if os.path.exists(p99_path):
    p99 = list(csv.DictReader(open(p99_path), delimiter="\t"))
    if p99:
        p("### Token requests with the pruner deleting, against without\n")
        p("The same server and load (wrk, 2 threads, 16 connections, N = 1,000, EdDSA) over a database holding a")
        p("backlog of 2,000,000 issuance records expired a day earlier: pruning off (`--prune-interval 0`), then on")
        p("(`--prune-interval 1 --retention-issuance 60`: the pruner deletes the backlog in batches of 500,")
        p("each followed by a pause three times as long as it took, throughout the run). Other builds share")
        p("these 2 cores, so identical runs differ by up to 2x in p99: compare the two rows of a backend, and")
        p("the rows pruned: while the pruner deletes several times the token rate, token requests keep most")
        p("of their throughput and their p99 stays within that noise.\n")
        p("| backend | pruning | token req/s | p50 ms | p99 ms | p99.9 ms | rows pruned during the run | errors |")
        p("|---|---|---|---|---|---|---|---|")
        for r in p99:
            p(f"| {BACKEND[r['backend']]} | {r['pruning']} | {int(r['rps']):,} | {int(r['p50_us']) / 1000:.2f} | "
              f"{int(r['p99_us']) / 1000:.2f} | {int(r['p999_us']) / 1000:.2f} | {int(float(r['pruned'])):,} | {r['errors']} |")
        p("")

if runs:
    p("![database size and RSS during the soak](bench/soak.svg)\n")
    # Two panels: database MiB and RSS MiB against minutes, one line per backend.
    w, h, left, top_pad, panel = 720, 420, 60, 30, 160
    s = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="10">',
         f'<rect width="{w}" height="{h}" fill="white"/>',
         f'<text x="{left}" y="16" font-size="12">Soak: database size and server RSS against time, '
         f'retention windows of 120 s</text>']
    tmax = max(r["t_s"] for rows, _ in runs.values() for r in rows) or 1
    for i, (key, label) in enumerate([("db_bytes", "database MiB"), ("rss_kib", "RSS MiB")]):
        y0 = top_pad + i * (panel + 50)
        scale = MIB if key == "db_bytes" else 1024
        vmax = max(r[key] for rows, _ in runs.values() for r in rows) / scale * 1.1 or 1
        s.append(f'<line x1="{left}" y1="{y0 + panel}" x2="{w - 20}" y2="{y0 + panel}" stroke="#999"/>')
        s.append(f'<line x1="{left}" y1="{y0}" x2="{left}" y2="{y0 + panel}" stroke="#999"/>')
        for frac in (0, 0.5, 1):
            yy = y0 + panel - frac * panel
            s.append(f'<text x="{left - 4}" y="{yy + 3}" text-anchor="end">{vmax * frac:.0f}</text>')
        s.append(f'<text x="{left}" y="{y0 - 4}">{label}</text>')
        for m in range(0, int(tmax / 60) + 1, 5):
            xx = left + m * 60 / tmax * (w - 20 - left)
            s.append(f'<text x="{xx}" y="{y0 + panel + 12}" text-anchor="middle">{m} min</text>')
        for b, (rows, _) in runs.items():
            pts = " ".join(f"{left + r['t_s'] / tmax * (w - 20 - left):.1f},{y0 + panel - r[key] / scale / vmax * panel:.1f}"
                           for r in rows)
            s.append(f'<polyline fill="none" stroke="{COLOR[b]}" stroke-width="1.5" points="{pts}"/>')
    for j, b in enumerate(runs):
        s.append(f'<rect x="{w - 160}" y="{24 + j * 14}" width="10" height="10" fill="{COLOR[b]}"/>')
        s.append(f'<text x="{w - 145}" y="{33 + j * 14}">{BACKEND[b]}</text>')
    s.append("</svg>")
    open("bench/soak.svg", "w").write("\n".join(s) + "\n")

print("\n".join(out))
