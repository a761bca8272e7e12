#!/usr/bin/env python3
"""Turns bench/results/results.tsv into BENCHMARKS.md (stdout), bench/throughput.svg and
bench/latency.svg, and checks the performance targets.

usage: report.py results.tsv COMMAND [profile.md]"""
import csv
import os
import sys

rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
for r in rows:
    for k in ("n", "conns", "rps", "p50_us", "p99_us", "p999_us", "peak_rss_kib", "errors"):
        r[k] = int(r[k])
command = sys.argv[2] if len(sys.argv) > 2 else "bench/run.sh"
profile = open(sys.argv[3]).read() if len(sys.argv) > 3 and os.path.exists(sys.argv[3]) else ""


def find(backend, target, alg, n, conns):
    return next((r for r in rows if (r["backend"], r["target"], r["alg"], r["n"], r["conns"]) ==
                 (backend, target, alg, n, conns)), None)


tokens = [r for r in rows if r["target"] == "token"]
ref = {r["conns"]: r for r in rows if r["target"] == "reference"}
BACKEND = {"sqlite": "SQLite", "postgres": "PostgreSQL"}


def share(r, target):
    """The token point `r` as a share of the `target` ceiling ("http" or "durable") measured
    just before it, under the same load."""
    c = find(r["backend"], target, r["alg"], r["n"], r["conns"])
    return r["rps"] / c["rps"] if c and c["rps"] else 0.0


def ms(us):
    return f"{us / 1000:.2f}"


out = []
p = out.append
p("# Benchmarks\n")
p("Produced by one command (wrk with 2 threads on the same 2-core machine as the server, which")
p("also runs the database). Every token is authenticated against a live API key, checked against")
p("its connection's status and recorded durably (SQLite `synchronous = FULL`, PostgreSQL")
p("`synchronous_commit = on`) before the answer; rate limiting is on. Before every token point the")
p("same wrk script runs against two ceilings (`bench/ceiling.rs`): the **HTTP ceiling** answers the")
p("same request at once with a body of the same size; the **durable ceiling** answers only after a")
p("128-byte record of the request is appended to a file on the same disk and `fdatasync`ed, with")
p("group commit. Shares of both are the results: absolute numbers move with the machine.\n")
p(f"Command: `{command}`\n")
p("| backend | alg | N | conns | token req/s | HTTP ceiling | durable ceiling | share of HTTP | share of durable | p50 ms | p99 ms | p99.9 ms | peak RSS MiB | vs reference |")
p("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
for r in tokens:
    h = find(r["backend"], "http", r["alg"], r["n"], r["conns"])
    d = find(r["backend"], "durable", r["alg"], r["n"], r["conns"])
    vs = f"{r['rps'] / ref[r['conns']]['rps']:.1f}x" if r["conns"] in ref and ref[r["conns"]]["rps"] else "-"
    p(f"| {BACKEND[r['backend']]} | {r['alg']} | {r['n']:,} | {r['conns']} | {r['rps']:,} | "
      f"{h['rps'] if h else 0:,} | {d['rps'] if d else 0:,} | {share(r, 'http'):.0%} | {share(r, 'durable'):.0%} | "
      f"{ms(r['p50_us'])} | {ms(r['p99_us'])} | {ms(r['p999_us'])} | {r['peak_rss_kib'] / 1024:.1f} | {vs} |")
p("\nThe ceilings' own latency, at the same points (p50 / p99 / p99.9 ms):\n")
p("| backend | alg | N | conns | HTTP ceiling | durable ceiling |")
p("|---|---|---|---|---|---|")
for r in tokens:
    h = find(r["backend"], "http", r["alg"], r["n"], r["conns"])
    d = find(r["backend"], "durable", r["alg"], r["n"], r["conns"])
    lat = lambda c: f"{ms(c['p50_us'])} / {ms(c['p99_us'])} / {ms(c['p999_us'])}" if c else "-"
    p(f"| {BACKEND[r['backend']]} | {r['alg']} | {r['n']:,} | {r['conns']} | {lat(h)} | {lat(d)} |")
if ref:
    p("\nReference stack (FastAPI + Pydantic v2 + PyJWT on uvicorn with uvloop and httptools, 2 workers,")
    p("HS256, its own SQLite file, N = 1,000; `bench/reference_peer.py`):\n")
    for conns, r in sorted(ref.items()):
        p(f"- {conns} connections: {r['rps']:,} req/s, p50 {ms(r['p50_us'])} ms, p99 {ms(r['p99_us'])} ms")
p(f"\nNon-2xx answers during the runs: {sum(r['errors'] for r in rows)}.")

# The targets, checked on these numbers.
checks = []


def check(name, ok, detail):
    checks.append((name, ok, detail))


def each(backend, alg, n=None):
    return [r for r in tokens if r["backend"] == backend and r["alg"] == alg and (n is None or r["n"] == n)]


for r in each("sqlite", "EdDSA", 1000):
    need = 0.60 if r["conns"] == 16 else 0.50
    check(f"SQLite EdDSA, {r['conns']} connections: >= {need:.0%} of the durable ceiling",
          share(r, "durable") >= need, f"{share(r, 'durable'):.0%}")
    if r["conns"] == 16:
        check("SQLite EdDSA, 16 connections: p99 <= 5 ms", r["p99_us"] <= 5000, f"{ms(r['p99_us'])} ms")
    if r["conns"] in ref and ref[r["conns"]]["rps"]:
        need = 5 if r["conns"] == 16 else 8
        x = r["rps"] / ref[r["conns"]]["rps"]
        check(f"SQLite EdDSA, {r['conns']} connections: >= {need}x the reference", x >= need, f"{x:.1f}x")
for r in tokens:
    if r["n"] == 1_000_000:
        small = find(r["backend"], "token", r["alg"], 1000, r["conns"])
        if small and small["rps"]:
            change = r["rps"] / small["rps"] - 1
            check(f"{BACKEND[r['backend']]} {r['alg']}, {r['conns']} connections: N = 1,000,000 within 15% of N = 1,000",
                  change >= -0.15, f"{change:+.0%} req/s against N = 1,000")
        check(f"{BACKEND[r['backend']]} {r['alg']}, N = 1,000,000, {r['conns']} connections: peak RSS <= 64 MiB",
              r["peak_rss_kib"] <= 64 * 1024, f"{r['peak_rss_kib'] / 1024:.1f} MiB")
for r in each("postgres", "EdDSA", 1000):
    check(f"PostgreSQL EdDSA, {r['conns']} connections: >= 30% of the HTTP ceiling",
          share(r, "http") >= 0.30, f"{share(r, 'http'):.0%}")
    if r["conns"] == 16:
        check("PostgreSQL EdDSA, 16 connections: p99 <= 5 ms", r["p99_us"] <= 5000, f"{ms(r['p99_us'])} ms")
# A run whose requests failed measured the failures, not the service: every number above is void.
errors = sum(r["errors"] for r in rows)
check("every request of every run answered 2xx", errors == 0, f"{errors:,} non-2xx answers")
p("\n## Targets\n")
p(f"{sum(ok for _, ok, _ in checks)} of {len(checks)} met.\n")
p("| target | measured | met |\n|---|---|---|")
for name, ok, detail in checks:
    p(f"| {name} | {detail} | {'yes' if ok else '**no**'} |")


# Plots: throughput against N (token and ceiling), and latency percentiles.
def svg_bars(groups, series, title, unit, path, log=False):
    """groups: [(label, [value per series])]; series: [(name, color)]."""
    import math
    gw = 26 * len(series) + 14
    w, h, base = 70 + gw * len(groups), 330, 250
    top = max([v for _, vs in groups for v in vs] + [1])
    scale = (lambda v: math.log10(max(v, 1)) / math.log10(top) if top > 1 else 0) if log else (lambda v: v / top)
    s = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="10">',
         f'<rect width="{w}" height="{h}" fill="white"/>', f'<text x="8" y="16" font-size="12">{title}</text>']
    for i, (name, color) in enumerate(series):
        s.append(f'<rect x="{8 + i * 150}" y="24" width="10" height="10" fill="{color}"/>'
                 f'<text x="{22 + i * 150}" y="33">{name}</text>')
    for i, (label, vs) in enumerate(groups):
        x = 60 + i * gw
        for j, v in enumerate(vs):
            bh = int(200 * scale(v))
            s.append(f'<rect x="{x + j * 26}" y="{base - bh}" width="22" height="{bh}" fill="{series[j][1]}">'
                     f'<title>{v:,} {unit}</title></rect>')
        for k, part in enumerate(label.split("|")):
            s.append(f'<text x="{x}" y="{base + 14 + 12 * k}">{part}</text>')
    s.append(f'<text x="8" y="{h - 6}">{"log scale; " if log else ""}max {top:,} {unit}</text></svg>')
    open(path, "w").write("\n".join(s))


groups = []
for r in tokens:
    h = find(r["backend"], "http", r["alg"], r["n"], r["conns"])
    d = find(r["backend"], "durable", r["alg"], r["n"], r["conns"])
    groups.append((f"{BACKEND[r['backend']]}|{r['alg']} c={r['conns']}|N={r['n']:,}",
                   [h["rps"] if h else 0, d["rps"] if d else 0, r["rps"]]))
svg_bars(groups, [("HTTP ceiling", "#bbb"), ("durable ceiling", "#888"), ("token endpoint", "#2a7")],
         "Requests per second against N, per backend, algorithm and connections", "req/s", "bench/throughput.svg")
lat = [(f"{BACKEND[r['backend']]}|{r['alg']} c={r['conns']}|N={r['n']:,}", [r["p50_us"], r["p99_us"], r["p999_us"]])
       for r in tokens]
lat += [(f"reference|HS256 c={c}|N=1,000", [r["p50_us"], r["p99_us"], r["p999_us"]]) for c, r in sorted(ref.items())]
svg_bars(lat, [("p50", "#7ad"), ("p99", "#d95"), ("p99.9", "#a44")],
         "Token endpoint latency percentiles", "us", "bench/latency.svg", log=True)


def svg_scatter(series, path):
    """p99 latency (log scale) against throughput; series: [(name, color, [(rps, p99_us, label)])]."""
    import math
    w, h, left, bottom, top_pad = 720, 420, 70, 360, 50
    xs = [x for _, _, pts in series for x, _, _ in pts] + [1]
    ys = [y for _, _, pts in series for _, y, _ in pts] + [1000]
    xmax = max(xs) * 1.1
    ylo, yhi = math.log10(max(min(ys), 100) / 1.5), math.log10(max(ys) * 1.5)
    X = lambda x: left + (w - left - 20) * x / xmax
    Y = lambda y: bottom - (bottom - top_pad) * (math.log10(max(y, 1)) - ylo) / (yhi - ylo)
    s = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="10">',
         f'<rect width="{w}" height="{h}" fill="white"/>',
         '<text x="8" y="16" font-size="12">p99 latency against throughput: tessera and the two ceilings</text>',
         f'<line x1="{left}" y1="{bottom}" x2="{w - 20}" y2="{bottom}" stroke="#444"/>',
         f'<line x1="{left}" y1="{top_pad}" x2="{left}" y2="{bottom}" stroke="#444"/>']
    for i in range(6):
        x = xmax * i / 5
        s.append(f'<text x="{X(x) - 10:.0f}" y="{bottom + 14}">{x / 1000:.0f}k</text>')
    for e in range(int(math.floor(ylo)), int(math.ceil(yhi)) + 1):
        if ylo <= e <= yhi:
            s.append(f'<text x="8" y="{Y(10 ** e) + 3:.0f}">{10 ** e / 1000:g} ms</text>'
                     f'<line x1="{left}" y1="{Y(10 ** e):.0f}" x2="{w - 20}" y2="{Y(10 ** e):.0f}" stroke="#eee"/>')
    s.append(f'<text x="{w // 2 - 40}" y="{h - 8}">requests per second</text>')
    for i, (name, color, pts) in enumerate(series):
        s.append(f'<rect x="{80 + i * 200}" y="26" width="10" height="10" fill="{color}"/>'
                 f'<text x="{94 + i * 200}" y="35">{name}</text>')
        for x, y, label in pts:
            s.append(f'<circle cx="{X(x):.1f}" cy="{Y(y):.1f}" r="4" fill="{color}"><title>{label}: {x:,} req/s, '
                     f'p99 {y / 1000:.2f} ms</title></circle>'
                     f'<text x="{X(x) + 6:.1f}" y="{Y(y) - 4:.1f}" fill="{color}">{label}</text>')
    s.append("</svg>")
    open(path, "w").write("\n".join(s))


def points(target, backend=None):
    name = lambda r: (f"{'SQLite' if r['backend'] == 'sqlite' else 'PG'} c={r['conns']}" if target == "token"
                      else f"c={r['conns']}")
    return [(r["rps"], r["p99_us"], name(r))
            for r in rows if r["target"] == target and r["n"] == 1000 and r["alg"] == "EdDSA"
            and (backend is None or r["backend"] == backend)]


svg_scatter([("HTTP ceiling", "#999", points("http", "sqlite")),
             ("durable ceiling", "#555", points("durable", "sqlite")),
             ("tessera (EdDSA, N = 1,000)", "#2a7", points("token"))], "bench/p99_throughput.svg")
p("\n![throughput against N](bench/throughput.svg)\n")
p("![latency percentiles](bench/latency.svg)\n")
p("![p99 against throughput](bench/p99_throughput.svg)")

if profile:
    p("\n## Where the time goes\n")
    p("`perf record -g` on the SQLite EdDSA server for 8 s under 256 connections (N = 1,000), by")
    p("thread and by what the code was doing (`bench/profile.py` sorts symbols into these groups):\n")
    p(profile.strip())
    p("\nThe account of these numbers is in the manual, docs/src/operators/performance.md.")
# The soak's section (bench/soak.sh writes it), kept when the rest is measured again.
if os.path.exists("bench/soak.md"):
    p("\n<!-- soak -->\n" + open("bench/soak.md").read().rstrip() + "\n<!-- /soak -->")
print("\n".join(out))
