#!/usr/bin/env python3
"""Checks the manual (docs/src) and README.md without building them: every page is in
SUMMARY.md and every SUMMARY entry exists; every relative link resolves to a file of the
repository, and every #anchor to a heading of its page; every test the claims table names
exists. Prints each problem and exits 1 when there is one. Run by scripts/docs.sh."""
import os
import re
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
SRC = os.path.join(ROOT, "docs", "src")
problems = []


def slug(title):
    title = re.sub(r"<[^>]+>", "", title).strip().lower()
    title = re.sub(r"[^\w\- ]", "", title)
    return title.replace(" ", "-")


def headings(path):
    seen, fence = {}, False
    out = set()
    for line in open(path, encoding="utf-8"):
        if line.startswith("```"):
            fence = not fence
        m = None if fence else re.match(r"^#{1,6} (.*)", line)
        if m:
            s = slug(m.group(1))
            n = seen.get(s, 0)
            seen[s] = n + 1
            out.add(s if n == 0 else f"{s}-{n}")
    return out


def links(path):
    fence = False
    for no, line in enumerate(open(path, encoding="utf-8"), 1):
        if line.startswith("```"):
            fence = not fence
            continue
        if fence:
            continue
        for target in re.findall(r"\]\(([^)\s]+)\)", re.sub(r"`[^`]*`", "", line)):
            yield no, target


pages = set()
for d, _, files in os.walk(SRC):
    for f in files:
        if f.endswith(".md"):
            pages.add(os.path.relpath(os.path.join(d, f), SRC))

summary = os.path.join(SRC, "SUMMARY.md")
listed = set()
for no, target in links(summary):
    listed.add(os.path.normpath(target))
    if not os.path.exists(os.path.join(SRC, target)):
        problems.append(f"docs/src/SUMMARY.md:{no}: {target} does not exist")
for page in sorted(pages - listed - {"SUMMARY.md"}):
    problems.append(f"docs/src/{page}: not in SUMMARY.md (mdbook would leave it out)")

files = [os.path.join(SRC, p) for p in sorted(pages - {"SUMMARY.md"})] + [os.path.join(ROOT, "README.md")]
for path in files:
    rel = os.path.relpath(path, ROOT)
    for no, target in links(path):
        if re.match(r"^[a-z]+:", target):
            continue  # http(s), mailto: not checked offline
        file, _, anchor = target.partition("#")
        dest = os.path.normpath(os.path.join(os.path.dirname(path), file)) if file else path
        if not dest.startswith(ROOT + os.sep) and dest != ROOT:
            problems.append(f"{rel}:{no}: {target} points outside the repository")
            continue
        if not os.path.exists(dest):
            problems.append(f"{rel}:{no}: {target}: no such file")
            continue
        if anchor and dest.endswith(".md") and anchor not in headings(dest):
            problems.append(f"{rel}:{no}: {target}: no heading #{anchor} in {os.path.relpath(dest, ROOT)}")

# The claims table: every file it names exists, every test function it names is defined.
claims = os.path.join(SRC, "contributors", "claims.md")
sources = []
for d in ("tests", "src"):
    for base, _, fs in os.walk(os.path.join(ROOT, d)):
        sources += [os.path.join(base, f) for f in fs if f.endswith(".rs")]
defined = set()
for s in sources:
    defined.update(re.findall(r"\bfn (\w+)", open(s, encoding="utf-8").read()))
rows = 0
for no, line in enumerate(open(claims, encoding="utf-8"), 1):
    if not line.startswith("| ") or line.startswith("| claim") or line.startswith("|---"):
        continue
    rows += 1
    cells = line.rstrip().strip("|").split(" | ")
    for name in re.findall(r"`([^`]+)`", cells[-1]):
        if name.startswith("target/"):
            continue  # artifacts a run writes
        if "/" in name:
            if not os.path.exists(os.path.join(ROOT, name)):
                problems.append(f"docs/src/contributors/claims.md:{no}: {name}: no such file")
            continue
        last = name.split("::")[-1]
        if last in ("*", "") or not re.fullmatch(r"\w+", last):
            module = name.split("::")[0]
            if not (os.path.exists(os.path.join(ROOT, "tests", module + ".rs"))
                    or os.path.isdir(os.path.join(ROOT, "tests", module))):
                problems.append(f"docs/src/contributors/claims.md:{no}: {name}: no test module {module}")
            continue
        if last not in defined:
            problems.append(f"docs/src/contributors/claims.md:{no}: {name}: no test fn {last}")
if rows < 40:
    problems.append(f"docs/src/contributors/claims.md: only {rows} claims found (the table moved?)")

for p in problems:
    print(p)
print(f"check-book: {len(pages)} pages, {rows} claims, {len(problems)} problems")
sys.exit(1 if problems else 0)
