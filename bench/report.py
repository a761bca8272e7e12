#!/usr/bin/env python3
"""Turns bench/results/results.tsv into BENCHMARKS.md (stdout) and an SVG plot."""
import csv
import os
import sys

rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
for r in rows:
    for k in ("n", "conns", "rps", "p50_us", "p99_us", "p999_us", "peak_rss_kib", "errors"):
        r[k] = int(r[k])

def find(target, alg, n, conns):
    for r in rows:
        if (r["target"], r["alg"], r["n"], r["conns"]) == (target, alg, n, conns):
            return r
    return None

ref = {r["conns"]: r for r in rows if r["target"] == "reference"}
print("# Benchmarks\n")
print("Produced by `bench/run.sh` (wrk on the same 2-core machine as the server; SQLite backend,")
print("durable issuance records, revocation-aware auth, rate limiting on). Ratios are the results;")
print("absolute numbers move with the machine.\n")
if len(sys.argv) > 2:
    print(f"Command: `{sys.argv[2]}`\n")
print("| alg | N | conns | token req/s | ceiling req/s | token/ceiling | p50 ms | p99 ms | p99.9 ms | peak RSS MiB | vs reference |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for r in rows:
    if r["target"] != "token":
        continue
    c = find("ceiling", r["alg"], r["n"], r["conns"])
    ratio = r["rps"] / c["rps"] if c and c["rps"] else 0
    vs = f"{r['rps'] / ref[r['conns']]['rps']:.1f}x" if r["conns"] in ref and ref[r["conns"]]["rps"] else "-"
    print(f"| {r['alg']} | {r['n']:,} | {r['conns']} | {r['rps']:,} | {c['rps'] if c else 0:,} | {ratio:.0%} | "
          f"{r['p50_us'] / 1000:.2f} | {r['p99_us'] / 1000:.2f} | {r['p999_us'] / 1000:.2f} | "
          f"{r['peak_rss_kib'] / 1024:.1f} | {vs} |")
if ref:
    print("\nReference stack (FastAPI + Pydantic + PyJWT, uvicorn, 2 workers, HS256, N = 1,000):\n")
    for conns, r in sorted(ref.items()):
        print(f"- {conns} connections: {r['rps']:,} req/s, p99 {r['p99_us'] / 1000:.2f} ms")
errors = sum(r["errors"] for r in rows)
print(f"\nNon-2xx answers during the runs: {errors}.")

# A small SVG: token throughput per configuration, beside the ceiling.
bars = [r for r in rows if r["target"] == "token"]
w, h, bw = 60 + 70 * len(bars), 320, 24
top = max([r["rps"] for r in rows] + [1])
svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="10">']
for i, r in enumerate(bars):
    c = find("ceiling", r["alg"], r["n"], r["conns"])
    x = 50 + i * 70
    for j, (val, color) in enumerate(((c["rps"] if c else 0, "#bbb"), (r["rps"], "#2a7"))):
        bh = int(240 * val / top)
        svg.append(f'<rect x="{x + j * bw}" y="{260 - bh}" width="{bw - 2}" height="{bh}" fill="{color}"/>')
    svg.append(f'<text x="{x}" y="275">{r["alg"]}</text><text x="{x}" y="287">N={r["n"]:,}</text>'
               f'<text x="{x}" y="299">c={r["conns"]}</text>')
svg.append(f'<text x="5" y="15">req/s (grey: ceiling /healthz, green: token endpoint); max {top:,}</text></svg>')
os.makedirs("bench", exist_ok=True)
open("bench/throughput.svg", "w").write("\n".join(svg))
print("\n![throughput](bench/throughput.svg)")
