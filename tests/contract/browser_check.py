#!/usr/bin/env python3
"""Loads /docs and /redoc from a running tessera in headless Chromium (Debian's, driven by
Playwright) and checks the seed operation is shown, with every request that is not to
loopback aborted: a page that asks for anything off this machine (a CDN script, a web font)
fails the check, and the requests it made are listed. Saves full-page screenshots.

The screenshots are deleted first, so a file left over from an earlier run never passes.

usage: browser_check.py TESSERA_BINARY ARTIFACT_DIR
Exit 2 (with a message) when no Chromium (or no Playwright) is installed.
"""
import os
import shutil
import sys
from urllib.parse import urlsplit

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import start_tessera  # noqa: E402

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-quic", "--disable-dev-shm-usage"]
LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}
PAGES = [
    ("docs", ["Create Connection Token", "/connections/{connection_id}/token"]),
    ("redoc", ["Create Connection Token", "/connections/{connection_id}/token"]),
]


def chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def is_local(url):
    parts = urlsplit(url)
    if parts.scheme in ("data", "blob", "about"):
        return True
    return parts.scheme in ("http", "https", "ws", "wss") and parts.hostname in LOOPBACK


def only_loopback(outside):
    """A route handler that lets loopback through and aborts, recording, everything else."""

    def handle(route):
        url = route.request.url
        if is_local(url):
            route.continue_()
        else:
            outside.append(url)
            route.abort("blockedbyclient")

    return handle


def main():
    binary, artifacts = sys.argv[1], sys.argv[2]
    browser_path = chromium()
    if browser_path is None:
        print("browser: no Chromium installed (apt-get install chromium)")
        return 2
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        print("browser: Playwright is not installed (pip install -r tests/contract/requirements.txt)")
        return 2
    os.makedirs(artifacts, exist_ok=True)
    for page_name, _ in PAGES:
        shot = os.path.join(artifacts, f"{page_name}.png")
        if os.path.exists(shot):
            os.remove(shot)
    proc, port, _ = start_tessera(binary)
    failures = 0
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=browser_path, headless=True, args=ARGS)
            for page_name, must_show in PAGES:
                context = browser.new_context(viewport={"width": 1280, "height": 2000}, service_workers="block")
                outside = []
                context.route("**/*", only_loopback(outside))
                # Requests the router never sees (a WebSocket, say) are recorded too.
                context.on("websocket", lambda ws, outside=outside: None if is_local(ws.url) else outside.append(ws.url))
                page = context.new_page()
                url = f"http://127.0.0.1:{port}/{page_name}"
                problems = []
                try:
                    page.goto(url, wait_until="networkidle", timeout=60_000)
                    for text in must_show:
                        page.get_by_text(text, exact=False).first.wait_for(state="attached", timeout=30_000)
                except Exception as e:  # noqa: BLE001 - any failure to load or find the text
                    problems.append(f"{type(e).__name__}: {str(e).splitlines()[0][:200]}")
                html = page.content()
                missing = [text for text in must_show if text not in html]
                if missing:
                    problems.append(f"does not show {missing} (DOM {len(html)} bytes)")
                shot = os.path.join(artifacts, f"{page_name}.png")
                page.screenshot(path=shot, full_page=True)
                if not os.path.exists(shot) or os.path.getsize(shot) == 0:
                    problems.append("no screenshot")
                if outside:
                    problems.append(f"asked for {len(outside)} non-loopback URLs: {sorted(set(outside))[:10]}")
                context.close()
                if problems:
                    failures += 1
                    print(f"browser: /{page_name} FAILED: " + "; ".join(problems))
                else:
                    print(f"browser: /{page_name} shows the seed operation, no request left loopback; "
                          f"screenshot {shot}")
            browser.close()
    finally:
        proc.terminate()
    print(f"browser: {len(PAGES) - failures} passed, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
