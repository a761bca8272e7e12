#!/usr/bin/env python3
"""Loads /docs and /redoc from a running tessera in headless Chromium, with the network off
except for loopback, and checks the seed operation is shown. Saves screenshots.

usage: browser_check.py TESSERA_BINARY ARTIFACT_DIR
Exit 2 (with a message) when no Chromium is installed.
"""
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import start_tessera  # noqa: E402

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
         "--disable-dev-shm-usage", "--virtual-time-budget=15000", "--window-size=1280,2000"]


def chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def run(browser, args, profile):
    return subprocess.run([browser, *FLAGS, f"--user-data-dir={profile}", *args],
                          capture_output=True, text=True, timeout=120)


def main():
    binary, artifacts = sys.argv[1], sys.argv[2]
    browser = chromium()
    if browser is None:
        print("browser: no Chromium installed (apt-get install chromium)")
        return 2
    os.makedirs(artifacts, exist_ok=True)
    proc, port, _ = start_tessera(binary)
    failures = 0
    try:
        for page, must_show in [
            ("docs", ["Create Connection Token", "/connections/{connection_id}/token"]),
            ("redoc", ["Create Connection Token", "/connections/{connection_id}/token"]),
        ]:
            url = f"http://127.0.0.1:{port}/{page}"
            with tempfile.TemporaryDirectory() as profile:
                dom = run(browser, ["--dump-dom", url], profile).stdout
            with tempfile.TemporaryDirectory() as profile:
                shot = os.path.join(artifacts, f"{page}.png")
                run(browser, [f"--screenshot={shot}", url], profile)
            missing = [text for text in must_show if text not in dom]
            if missing or not os.path.exists(shot):
                failures += 1
                print(f"browser: /{page} does not show {missing} (DOM {len(dom)} bytes)")
            else:
                print(f"browser: /{page} shows the seed operation; screenshot {shot}")
    finally:
        proc.terminate()
    print(f"browser: {2 - failures} passed, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
