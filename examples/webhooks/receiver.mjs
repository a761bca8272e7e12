// A webhook receiver that verifies tessera's signatures (Node 18+, no dependencies).
//
// tessera signs each delivery as Subtotal documents it: `X-Subtotal-Timestamp` is the send
// time in Unix seconds and `X-Subtotal-Signature` the lowercase hex HMAC-SHA256 of
// "{timestamp}.{raw body}" under the webhook's signing secret. Right after a secret rotation
// the header carries one signature per live secret, comma-separated: accept a delivery when
// any matches. Compare in constant time, and refuse timestamps outside a replay window.
//
// Run:  WEBHOOK_SECRET=whsec_... node receiver.mjs 8000
// Each verified event is printed as one JSON line; anything else is answered 400.
// With RECEIVER_DIR set, every request is also appended to RECEIVER_DIR/events.jsonl and the
// secrets are read from RECEIVER_DIR/secret (one per line), as the tests use it.
import { createHmac, timingSafeEqual } from "node:crypto";
import { appendFileSync, readFileSync } from "node:fs";
import { createServer } from "node:http";
import { join } from "node:path";

const REPLAY_WINDOW_SECS = 300;

export function verify(secret, timestamp, body, signatures) {
  const sent = Number.parseInt(timestamp, 10);
  if (!Number.isFinite(sent) || Math.abs(Date.now() / 1000 - sent) > REPLAY_WINDOW_SECS) return false;
  const expected = Buffer.from(createHmac("sha256", secret).update(`${timestamp}.`).update(body).digest("hex"));
  return signatures.split(",").some((s) => {
    const given = Buffer.from(s.trim());
    return given.length === expected.length && timingSafeEqual(given, expected);
  });
}

const dir = process.env.RECEIVER_DIR;
const secrets = () => {
  try {
    return readFileSync(join(dir, "secret"), "utf8").split("\n").filter(Boolean);
  } catch {
    return (process.env.WEBHOOK_SECRET ?? "").split(",").filter(Boolean);
  }
};

const server = createServer((req, res) => {
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", () => {
    const body = Buffer.concat(chunks);
    const timestamp = req.headers["x-subtotal-timestamp"] ?? "";
    const signatures = req.headers["x-subtotal-signature"] ?? "";
    const verified = secrets().some((s) => verify(s, timestamp, body, signatures));
    if (dir) {
      const event = body.length ? JSON.parse(body.toString()) : {};
      appendFileSync(join(dir, "events.jsonl"), JSON.stringify({ verified, mode: "ok", event }) + "\n");
    }
    if (verified) console.log(body.toString());
    res.writeHead(verified ? 204 : 400).end();
  });
});
server.listen(Number(process.argv[2] ?? 8000), "127.0.0.1", () => {
  console.log(`listening on ${server.address().port}`);
});
