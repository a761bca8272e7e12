"""Starting a tessera server for the contract checks."""
import os
import socket
import subprocess
import tempfile
import time


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_for(port, proc, what):
    for _ in range(400):
        if proc.poll() is not None:
            raise SystemExit(f"{what} exited early with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"{what} did not start")


FIRST_KEY_LINE = "tessera wrote the first API key to "


def first_key_in(line):
    """The first API key, from the file `serve` names when its output is not a terminal."""
    line = line.strip()
    if not line.startswith(FIRST_KEY_LINE):
        return None
    with open(line[len(FIRST_KEY_LINE):]) as f:
        return f.read().strip()


def start_tessera(binary, extra=()):
    """Starts `tessera serve` on a fresh SQLite database; returns (process, port, api key)."""
    tmp = tempfile.mkdtemp()
    port = free_port()
    proc = subprocess.Popen(
        [binary, "serve", "--bind", f"127.0.0.1:{port}", "--database-url", f"sqlite://{tmp}/t.db", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("TESSERA_")},
    )
    key = None
    for line in proc.stdout:
        line = line.strip()
        key = first_key_in(line) or key
        if line.startswith("tessera listening on"):
            break
    wait_for(port, proc, "tessera")
    return proc, port, key
