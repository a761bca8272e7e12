#!/usr/bin/env python3
"""A webhook receiver that verifies tessera's signatures (Python 3 standard library only).

tessera signs each delivery as Subtotal documents it: `X-Subtotal-Timestamp` is the send time
in Unix seconds and `X-Subtotal-Signature` the lowercase hex HMAC-SHA256 of
"{timestamp}.{raw body}" under the webhook's signing secret. Right after a secret rotation the
header carries one signature per live secret, comma-separated: accept a delivery when any
matches. Compare in constant time, and refuse timestamps outside a replay window.

Run:  WEBHOOK_SECRET=whsec_... python3 receiver.py 8000
Each verified event is printed as one JSON line; anything else is answered 400.

Tests drive it further through RECEIVER_DIR: the secrets are read from RECEIVER_DIR/secret (one
per line) on every request, RECEIVER_DIR/mode (ok, 500, hang or reset) says how to answer, and
every request is appended to RECEIVER_DIR/events.jsonl.
"""
import hashlib
import hmac
import json
import os
import socket
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

REPLAY_WINDOW_SECS = 300


def verify(secret: str, timestamp: str, body: bytes, signatures: str) -> bool:
    """Whether one of the comma-separated signatures is `secret`'s, and the time is recent."""
    try:
        sent = int(timestamp)
    except ValueError:
        return False
    if abs(time.time() - sent) > REPLAY_WINDOW_SECS:
        return False
    expected = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(expected, s.strip()) for s in signatures.split(","))


DIR = os.environ.get("RECEIVER_DIR")


def read(name: str, default: str) -> str:
    try:
        with open(os.path.join(DIR, name)) as f:
            return f.read().strip()
    except (OSError, TypeError):
        return default


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        secrets = [s for s in read("secret", os.environ.get("WEBHOOK_SECRET", "")).splitlines() if s]
        timestamp = self.headers.get("x-subtotal-timestamp", "")
        signatures = self.headers.get("x-subtotal-signature", "")
        verified = any(verify(s, timestamp, body, signatures) for s in secrets)
        mode = read("mode", "ok")
        if DIR:
            with open(os.path.join(DIR, "events.jsonl"), "a") as f:
                event = json.loads(body) if body else {}
                f.write(json.dumps({"verified": verified, "mode": mode, "event": event}) + "\n")
        if mode == "hang":
            time.sleep(3600)
        if mode == "reset":
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            self.connection.close()
            return
        if mode == "500":
            self.send_response(500)
        elif verified:
            print(body.decode(), flush=True)
            self.send_response(204)
        else:
            self.send_response(400)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8000
    server = ThreadingHTTPServer(("127.0.0.1", port), Receiver)
    print(f"listening on {server.server_address[1]}", flush=True)
    server.serve_forever()
