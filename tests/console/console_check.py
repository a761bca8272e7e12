#!/usr/bin/env python3
"""The operator console, driven whole in headless Chromium (Debian's, through Playwright)
against the real tessera binary, on SQLite or PostgreSQL.

What it checks, as a new operator would do it:
  - `tessera operator create` prints a sign-in link; opening it signs in;
  - create a client and an API key: the secret is shown once, and never again;
  - with that key (plain HTTP, as curl would), create a connection whose tenant fields are
    XSS payloads, and mint a token;
  - find the connection by customer id; see its `token_issued` event and its live token;
  - paste the token on the Tokens page: decoded, signed by the active key, live;
  - disconnect it (after the confirmation page); the next mint is 409;
  - schedule a signing-key rotation: the timeline gains a `next` key;
  - connector credentials: create (secret shown once) and revoke;
  - a webhook (named with a payload) on the client's page, its delivery log, redeliver;
  - the audit log lists what was done;
  - sign out: the old session cookie no longer works;
  - a page on another origin that posts to the console is refused, and changes nothing;
  - every stored-XSS payload renders as text: no script ran (a flag the payloads would set
    stays unset, no dialog opened, no injected element exists), in a browser context that
    ignores the CSP, so that escaping alone is what is tested; and in a normal context an
    inline script is refused by the CSP;
  - without JavaScript: sign in with a password and create a client with plain forms;
  - rename the client (its new name a payload too): shown, and in the audit log;
  - every page again on a 375 px wide screen (a phone): no page scrolls sideways, no id or
    code breaks into a column of single characters, and axe-core still finds nothing serious;
  - axe-core (from npm) on every page: no serious or critical violation;
  - a screenshot of every page in ARTIFACT_DIR (deleted first).

usage: console_check.py TESSERA_BINARY ARTIFACT_DIR sqlite|postgres
Exit 2 (with a message) when Chromium, Playwright, Node's axe-core or PostgreSQL is missing.
"""
import http.server
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "contract"))
from common import free_port, wait_for  # noqa: E402

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-quic", "--disable-dev-shm-usage"]
KEK = "dGVzc2VyYS10ZXN0LWtlay0zMi1ieXRlcy1leGFjdCE="
PG_ADMIN = os.environ.get("TESSERA_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test")
PASSWORD = "a long enough console password"

# Each payload would set window.__pwned (or open a dialog) if it ever ran as markup.
SCRIPT = "<script>window.__pwned='script';alert(1)</script>"
IMG = "\"><img src=x onerror=\"window.__pwned='img';alert(2)\">"
SVG = "'><svg onload=\"window.__pwned='svg'\">"
# The API's length limits apply: retailer_id has 26 characters at most, mobile 16.
PAYLOADS = {
    "customer_id": "c" + SCRIPT,
    "retailer_id": "\"><svg onload=alert(2)>",
    "email": "a@b.example" + SVG,
    "mobile": "<svg onload=f()>",
    "client": "client" + SCRIPT + IMG,
    "webhook": "hook" + SCRIPT,
    "connector": "conn" + IMG,
    "retailer": "shop" + SCRIPT,
}
# Set before any page script; the payloads set __pwned, a CSP report adds to __csp.
WATCH = """
window.__pwned = null;
window.__csp = [];
document.addEventListener('securitypolicyviolation', function (e) { window.__csp.push(e.violatedDirective); });
"""


class Failure(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Failure(what)


def chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def axe_source():
    """axe-core from npm, installed into tests/console/node_modules from the lock file."""
    path = os.path.join(HERE, "node_modules", "axe-core", "axe.min.js")
    if not os.path.exists(path):
        if shutil.which("npm") is None:
            return None
        r = subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--silent"], cwd=HERE)
        if r.returncode != 0 or not os.path.exists(path):
            return None
    with open(path, encoding="utf-8") as f:
        return f.read()


def api(base, method, path, key=None, body=None, cookie=None, headers=None):
    """One plain HTTP request (what curl does); returns (status, headers, text)."""
    data = None
    h = dict(headers or {})
    if body is not None:
        data = json.dumps(body).encode()
        h["content-type"] = "application/json"
    if key:
        h["x-api-key"] = key
    if cookie:
        h["cookie"] = cookie
    req = urllib.request.Request(base + path, data=data, method=method, headers=h)

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *a, **k):
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(req, timeout=30) as r:
            return r.status, dict(r.headers), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read().decode()


class Database:
    """A fresh database: a SQLite file, or a PostgreSQL database dropped at the end."""

    def __init__(self, backend):
        self.tmp = tempfile.mkdtemp()
        self.pg_name = None
        if backend == "sqlite":
            self.url = f"sqlite://{self.tmp}/console.db"
            return
        if shutil.which("psql") is None:
            raise SystemExit(2)
        self.pg_name = "console_check_" + uuid.uuid4().hex[:12]
        r = subprocess.run(["psql", PG_ADMIN, "-qc", f"CREATE DATABASE {self.pg_name}"], capture_output=True)
        if r.returncode != 0:
            print(f"console check: PostgreSQL at {PG_ADMIN} is not reachable: {r.stderr.decode().strip()}")
            raise SystemExit(2)
        self.url = PG_ADMIN.rsplit("/", 1)[0] + "/" + self.pg_name

    def drop(self):
        if self.pg_name:
            subprocess.run(["psql", PG_ADMIN, "-qc", f"DROP DATABASE IF EXISTS {self.pg_name} WITH (FORCE)"],
                           capture_output=True)
        shutil.rmtree(self.tmp, ignore_errors=True)


def env_for(db):
    env = {k: v for k, v in os.environ.items() if not k.startswith("TESSERA_")}
    env["TESSERA_DATABASE_URL"] = db.url
    env["TESSERA_KEK"] = KEK
    return env


def start(binary, db, port):
    proc = subprocess.Popen(
        [binary, "serve", "--bind", f"127.0.0.1:{port}", "--webhook-allow-private", "--webhook-allow-http"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env_for(db),
    )
    for line in proc.stdout:
        if line.startswith("tessera listening on"):
            break
    wait_for(port, proc, "tessera")
    return proc


def cli(binary, db, args, stdin=None):
    r = subprocess.run([binary, *args], capture_output=True, text=True, env=env_for(db), input=stdin, timeout=60)
    if r.returncode != 0:
        raise Failure(f"tessera {' '.join(args)} failed: {r.stderr}")
    return r.stdout


class Run:
    def __init__(self, base, artifacts, backend, axe):
        self.base = base
        self.artifacts = artifacts
        self.backend = backend
        self.axe = axe
        self.dialogs = []
        self.shots = []

    def watch(self, page):
        page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))

    def inspect(self, page, name):
        """On every page: nothing injected ran or exists; axe finds nothing serious; a screenshot."""
        pwned = page.evaluate("window.__pwned")
        check(pwned is None, f"{name}: an injected script ran ({pwned})")
        check(not self.dialogs, f"{name}: a dialog opened: {self.dialogs}")
        injected = page.evaluate(
            "document.querySelectorAll('img[src=\"x\"], svg[onload], script:not([src])').length")
        check(injected == 0, f"{name}: {injected} injected element(s) in the page")
        page.evaluate(self.axe)
        result = page.evaluate(
            "async () => { const r = await axe.run(document, {resultTypes: ['violations']});"
            " return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help, n: v.nodes.length,"
            " first: v.nodes[0] && v.nodes[0].html})); }")
        bad = [v for v in result if v["impact"] in ("serious", "critical")]
        check(not bad, f"{name}: axe-core found serious or critical violations: {json.dumps(bad, indent=1)}")
        shot = os.path.join(self.artifacts, f"{self.backend}-{name}.png")
        page.screenshot(path=shot, full_page=True)
        self.shots.append(shot)

    def fits_a_phone(self, page, name):
        """On a narrow screen: the page does not scroll sideways, and no id, code or time is
        squeezed into a narrow column (fewer than 10 characters a line, or under 60 px wide);
        then `inspect`."""
        page.screenshot(path=os.path.join(self.artifacts, f"{self.backend}-{name}.png"), full_page=True)
        width = page.evaluate("document.documentElement.scrollWidth")
        viewport = page.evaluate("window.innerWidth")
        check(width <= viewport, f"{name}: the page is {width} px wide on a {viewport} px screen")
        broken = page.evaluate(
            "Array.from(document.querySelectorAll('main td code, main dd code, main td time, main dd time, main td a')).filter(e => {"
            " if (e.closest('pre') || !e.getClientRects().length) return false;"
            " const lh = parseFloat(getComputedStyle(e).lineHeight) || 20;"
            " const lines = Math.round(e.getClientRects().length > 1 ? e.getClientRects().length"
            "   : e.getBoundingClientRect().height / lh);"
            " const n = e.textContent.trim().length;"
            " return (lines > 1 && n / lines < 10) || (n > 8 && e.getBoundingClientRect().width < 60);"
            "}).map(e => e.textContent.trim().slice(0, 40))")
        check(not broken, f"{name}: ids or codes broken into narrow columns: {broken[:5]}")
        self.inspect(page, name)

    def goto(self, page, path):
        r = page.goto(self.base + path)
        check(r is not None and r.status == 200, f"GET {path}: {r and r.status}")


def flows(pw, browser_path, binary, db, artifacts, backend, axe):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = start(binary, db, port)
    page = None
    run = Run(base, artifacts, backend, axe)
    try:
        browser = pw.chromium.launch(executable_path=browser_path, headless=True, args=ARGS)
        # The CSP is bypassed here so that escaping alone keeps the payloads inert (and axe can
        # be injected); the CSP itself is checked in a normal context below.
        ctx = browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True, service_workers="block")
        ctx.add_init_script(WATCH)
        page = ctx.new_page()
        run.watch(page)

        # Sign in with the link `tessera operator create` prints.
        out = cli(binary, db, ["operator", "create", "admin", "--bind", f"127.0.0.1:{port}"])
        link = next(line.strip() for line in out.splitlines() if "/console/sign-in/link?token=" in line)
        check(link.startswith(base + "/console/"), f"the printed link points at the server: {link}")
        page.goto(link)
        run.inspect(page, "sign-in-link")
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(base + "/console")
        check(page.get_by_text("Signed in as").is_visible(), "signed in")
        # The link works once.
        page2 = ctx.new_page()
        r = page2.goto(link)
        page2.get_by_role("button", name="Sign in").click()
        check("used up" in page2.content(), "a used link is refused")
        page2.close()

        # A client (named with a payload) and a key, its secret shown once.
        run.goto(page, "/console/clients")
        page.get_by_label("New client's name").fill(PAYLOADS["client"])
        page.get_by_role("button", name="Create client").click()
        page.wait_for_url("**/console/clients/*")
        check(page.get_by_role("heading", level=1).inner_text() == "Client " + PAYLOADS["client"],
              "the client's name is shown as text")
        client_url = page.url.split("?")[0]
        client_id = client_url.rsplit("/", 1)[1]
        page.get_by_role("button", name="Create an API key").click()
        secret = page.locator("#secret").input_value()
        check(secret.startswith("tsk_"), f"an API key is shown: {secret[:4]}")
        check(page.get_by_text("Shown once.").is_visible(), "the warning is shown")
        run.inspect(page, "key-created")
        page.goto(client_url)
        check(secret not in page.content(), "the secret is never shown again")
        key_id = secret.split("_")[1]
        check(key_id in page.content(), "the key is listed")

        # A webhook named with a payload, registered with the new key, before any connection.
        status, _, body = api(base, "POST", "/webhooks", secret, {
            "name": PAYLOADS["webhook"], "url": f"http://127.0.0.1:{free_port()}/hook",
            "event_types": ["connection.created", "connection.disconnected"], "is_active": True})
        check(status == 201, f"webhook created: {status} {body}")
        webhook_id = json.loads(body)["webhook_id"] if "webhook_id" in body else json.loads(body)["id"]

        # With the key, as curl would: a connection of hostile fields, and a token.
        status, _, body = api(base, "POST", "/connections", secret, {
            "customer_id": PAYLOADS["customer_id"], "retailer_id": PAYLOADS["retailer_id"],
            "email": PAYLOADS["email"], "mobile": PAYLOADS["mobile"]})
        check(status == 201, f"connection created: {status} {body}")
        connection_id = json.loads(body)["connection_id"]
        status, _, body = api(base, "POST", f"/connections/{connection_id}/token", secret, {"scope": "access"})
        check(status == 201 or status == 200, f"token minted: {status} {body}")
        token = json.loads(body)["connection_token"]

        # The overview counts it.
        run.goto(page, "/console")
        check(page.locator("svg[role=img]").count() == 1, "the overview has its chart")
        run.inspect(page, "overview")

        # Find it by customer id; its page shows the token_issued event and the live token.
        run.goto(page, "/console/connections")
        page.get_by_label("Connection id or customer id").fill(PAYLOADS["customer_id"])
        page.get_by_role("button", name="Search").click()
        page.wait_for_url("**/console/connections?*")
        row = page.get_by_role("link", name=connection_id)
        check(row.count() == 1, "the search finds the connection by customer id")
        run.inspect(page, "connections")
        row.click()
        page.wait_for_url(f"**/console/connections/{connection_id}")
        content = page.content()
        check("token_issued" in content, "the token_issued event is shown")
        jti = json.loads(__import__("base64").urlsafe_b64decode(token.split(".")[1] + "==="))["jti"]
        check(jti in content and token not in content, "the live token's jti is shown, never the token")
        for field in ("customer_id", "retailer_id", "email", "mobile"):
            check(page.get_by_text(PAYLOADS[field], exact=True).count() >= 1, f"{field} is shown as text")
        run.inspect(page, "connection")
        # By connection id too.
        run.goto(page, f"/console/connections?q={connection_id}")
        check(page.get_by_role("link", name=connection_id).count() == 1, "the search finds it by id")

        # Paste the token: decoded, signed by the active key, live.
        run.goto(page, "/console/tokens")
        run.inspect(page, "tokens")
        page.get_by_label("A connection token").fill(token)
        page.get_by_role("button", name="Decode and introspect").click()
        check(page.get_by_text("Live:").is_visible(), "the token is live")
        check(jti in page.content() and token not in page.content(), "decoded, not echoed")
        run.inspect(page, "token-inspected")

        # Disconnect (confirmation first); the next mint is 409.
        page.goto(base + f"/console/connections/{connection_id}")
        page.get_by_role("link", name="Disconnect…").click()
        check("revoked at once" in page.content(), "the confirmation says what will happen")
        run.inspect(page, "disconnect-confirm")
        page.get_by_role("button", name="Disconnect").click()
        page.wait_for_url("**?done=disconnected")
        check(page.locator(".status.disconnected").count() >= 1, "the connection is disconnected")
        check("status_changed" in page.content(), "the activity shows the change")
        status, _, body = api(base, "POST", f"/connections/{connection_id}/token", secret, {"scope": "access"})
        check(status == 409, f"the next mint is 409: {status} {body}")
        # And the token is no longer live.
        run.goto(page, "/console/tokens")
        page.get_by_label("A connection token").fill(token)
        page.get_by_role("button", name="Decode and introspect").click()
        check(page.get_by_text("Not live:").is_visible(), "a disconnected connection's token is not live")

        # Revoke one token of a second connection.
        status, _, body = api(base, "POST", "/connections", secret, {"customer_id": "c2", "retailer_id": "r"})
        second = json.loads(body)["connection_id"]
        status, _, body = api(base, "POST", f"/connections/{second}/token", secret, {"scope": "access"})
        jti2 = json.loads(__import__("base64").urlsafe_b64decode(json.loads(body)["connection_token"].split(".")[1]
                                                                 + "==="))["jti"]
        run.goto(page, f"/console/connections/{second}")
        page.get_by_role("link", name="Revoke…").click()
        run.inspect(page, "token-revoke-confirm")
        page.get_by_role("button", name="Revoke the token").click()
        page.wait_for_url("**?done=token-revoked")
        check(jti2 not in page.locator("#tokens").locator("..").inner_text(), "the revoked token is no longer live")

        # Rotate the signing key (scheduled): the timeline gains a `next` key.
        run.goto(page, "/console/signing-keys")
        check(page.locator(".state.next").count() == 0, "no key is scheduled yet")
        run.inspect(page, "signing-keys")
        page.get_by_role("link", name="Schedule a rotation…").click()
        run.inspect(page, "rotate-confirm")
        page.get_by_role("button", name="Schedule the rotation").click()
        page.wait_for_url("**?done=rotation-scheduled")
        check(page.locator(".state.next").count() == 1, "the timeline shows the next key")

        # Webhooks: the endpoint (named with a payload) and its delivery log; redeliver.
        run.goto(page, f"/console/clients/{client_id}")
        check(page.get_by_text(PAYLOADS["webhook"], exact=True).count() == 1, "the webhook's name is text")
        key_row = page.locator("tr", has_text=key_id).inner_text()
        check("never" not in key_row, f"the key's last use is shown: {key_row}")
        run.inspect(page, "client")
        page.get_by_role("link", name="Delivery log").click()
        deliveries_url = page.url.split("?")[0]
        check(page.locator("tbody tr").count() >= 2, "the delivery log lists the events")
        run.inspect(page, "webhook-deliveries")
        page.get_by_role("button", name="Redeliver").first.click()
        page.wait_for_url("**?done=redelivered")

        # Link: a redirect URL registered on the client's page; a link token and a Link session
        # of a customer (named with a payload) on the Link page, metadata only; the URL removed.
        run.goto(page, f"/console/clients/{client_id}")
        page.get_by_label("Redirect URL", exact=True).fill("https://app.example/linked")
        page.get_by_role("button", name="Register").click()
        page.wait_for_url("**?done=redirect-url-added*")
        check(page.get_by_text("https://app.example/linked", exact=True).count() == 1, "the redirect URL is listed")
        run.inspect(page, "client-redirect-urls")
        status, _, body = api(base, "POST", "/link-tokens", secret, {"customer_id": PAYLOADS["customer_id"]})
        check(status == 201, f"a link token: {status} {body}")
        link_token = json.loads(body)["link_token"]
        status, _, _ = api(base, "GET", f"/link/{link_token}?redirect_url=https%3A%2F%2Fapp.example%2Flinked")
        check(status in (200, 303), f"a Link session starts: {status}")
        page.goto(base + f"/console/connections/{connection_id}")
        page.get_by_role("link", name="Link sessions and tokens").click()
        page.wait_for_url("**/console/link?*")
        link_url = page.url
        content = page.content()
        check(link_token not in content and "lt_v1_" not in content, "no link token is shown")
        check(page.locator("#link-tokens").count() == 1 and page.locator(".status.active").count() >= 1,
              "the customer's link token is listed as active")
        check(page.locator(".status.started").count() == 1, "the Link session is listed as started")
        check(page.get_by_text(PAYLOADS["customer_id"], exact=True).count() >= 1, "the customer id is text")
        run.inspect(page, "link")
        run.goto(page, f"/console/clients/{client_id}")
        page.locator("#redirect-urls").locator("..").get_by_role("link", name="Remove…").click()
        run.inspect(page, "redirect-url-remove-confirm")
        page.get_by_role("button", name="Remove the redirect URL").click()
        page.wait_for_url("**?done=redirect-url-removed*")
        check(page.get_by_text("https://app.example/linked", exact=True).count() == 0, "the redirect URL is gone")

        # Revoke the key (confirmation first): the API refuses it.
        run.goto(page, f"/console/clients/{client_id}")
        page.get_by_role("link", name="Revoke…").first.click()
        run.inspect(page, "key-revoke-confirm")
        page.get_by_role("button", name="Revoke the key").click()
        page.wait_for_url("**?done=key-revoked")
        status, _, _ = api(base, "GET", f"/connections/{second}", secret)
        check(status == 401, f"a revoked key is refused: {status}")

        # Connector credentials: created (shown once) and revoked.
        run.goto(page, "/console/connectors")
        page.get_by_label("New credential's name").fill(PAYLOADS["connector"])
        page.get_by_role("button", name="Create a credential").click()
        credential = page.locator("#secret").input_value()
        check(credential.startswith("tsc_"), "a connector credential is shown")
        run.inspect(page, "connectors")
        run.goto(page, "/console/connectors")
        check(credential not in page.content(), "the credential is never shown again")
        page.get_by_role("link", name="Revoke…").click()
        run.inspect(page, "connector-revoke-confirm")
        page.get_by_role("button", name="Revoke the credential").click()
        page.wait_for_url("**?done=connector-revoked")

        # Partner apps: one allowed for the client (its client id is tenant-like text) and revoked.
        run.goto(page, "/console/partners")
        page.get_by_label("Issuer URL (as its tokens' iss states it)").fill("https://sso.example.com/realms/partners")
        page.get_by_label("Partner app's client id (its tokens' client_id or azp)").fill(PAYLOADS["connector"])
        page.get_by_label("Client it may act for (client id)").fill(client_id)
        page.get_by_role("button", name="Allow the partner").click()
        page.wait_for_url("**?done=partner-allowed")
        check(page.get_by_text(PAYLOADS["connector"], exact=True).count() == 1, "the partner's client id is text")
        run.inspect(page, "partners")
        page.get_by_role("link", name="Revoke…").click()
        run.inspect(page, "partner-revoke-confirm")
        page.get_by_role("button", name="Revoke the partner").click()
        page.wait_for_url("**?done=partner-revoked")

        # The retailer catalogue: a retailer added (its name is tenant-like text) and removed.
        run.goto(page, "/console/retailers")
        page.get_by_label("Retailer id").fill("corner-shop")
        page.get_by_label("Name", exact=True).fill(PAYLOADS["retailer"])
        page.get_by_role("button", name="Add or rename").click()
        page.wait_for_url("**?done=retailer-saved")
        check(page.get_by_text(PAYLOADS["retailer"], exact=True).count() == 1, "the retailer's name is text")
        run.inspect(page, "retailers")
        page.locator("tr", has_text="corner-shop").get_by_role("link", name="Remove…").click()
        run.inspect(page, "retailer-remove-confirm")
        page.get_by_role("button", name="Remove the retailer").click()
        page.wait_for_url("**?done=retailer-removed")
        check(page.locator("tr", has_text="corner-shop").count() == 0, "the removed retailer is gone")

        # Rename the client (the new name a payload too): its page and the audit log say so.
        run.goto(page, f"/console/clients/{client_id}")
        page.get_by_role("link", name="Rename…").click()
        run.inspect(page, "client-rename")
        page.get_by_label("New name", exact=False).fill("   ")
        page.get_by_role("button", name="Rename the client").click()
        check(page.locator("#rename-problem").count() == 1, "a blank name is refused beside the form")
        renamed = "Renamed " + SCRIPT
        page.get_by_label("New name", exact=False).fill(renamed)
        page.get_by_role("button", name="Rename the client").click()
        page.wait_for_url("**?done=client-renamed")
        check(page.get_by_role("heading", level=1).inner_text() == "Client " + renamed, "the new name is shown as text")
        run.inspect(page, "client-renamed")

        # The audit log shows what was done.
        run.goto(page, "/console/audit")
        text = page.content()
        for action in ("sign_in.link", "client.create", "api_key.create", "connection.disconnect", "token.revoke",
                       "signing_key.schedule", "webhook.redeliver", "api_key.revoke", "connector.create",
                       "connector.revoke", "retailer.put", "retailer.remove", "redirect_url.add",
                       "redirect_url.remove", "client.rename"):
            check(action in text, f"the audit log records {action}")
        run.inspect(page, "audit")
        run.goto(page, "/console/operators")
        run.inspect(page, "operators")
        run.goto(page, "/console/clients")
        run.inspect(page, "clients")

        # Every page on a phone: 375 px wide, with the data above in its tables.
        narrow = ctx.new_page()
        narrow.set_viewport_size({"width": 375, "height": 812})
        run.watch(narrow)
        phone_pages = {
            "overview": "/console", "clients": "/console/clients", "client": f"/console/clients/{client_id}",
            "client-rename": f"/console/clients/{client_id}/rename",
            "webhook-deliveries": deliveries_url.replace(base, ""),
            "connections": f"/console/connections?q={PAYLOADS['customer_id']}",
            "connection": f"/console/connections/{connection_id}", "connection-2": f"/console/connections/{second}",
            "disconnect-confirm": f"/console/connections/{second}/disconnect",
            "link": link_url.replace(base, ""), "tokens": "/console/tokens", "signing-keys": "/console/signing-keys",
            "rotate-confirm": "/console/signing-keys/rotate", "connectors": "/console/connectors",
            "partners": "/console/partners", "retailers": "/console/retailers", "audit": "/console/audit",
            "operators": "/console/operators",
        }
        for name, path in phone_pages.items():
            run.goto(narrow, path)
            run.fits_a_phone(narrow, f"375px-{name}")
        # And a decoded token.
        run.goto(narrow, "/console/tokens")
        narrow.get_by_label("A connection token").fill(token)
        narrow.get_by_role("button", name="Decode and introspect").click()
        run.fits_a_phone(narrow, "375px-token-inspected")
        narrow.close()

        # Another origin's page posting to the console is refused and changes nothing.
        evil_port = free_port()
        form = (f"<!doctype html><html lang=en><title>x</title><form id=f method=post "
                f"action='{base}/console/clients'><input name=name value=cross-site-client></form>"
                "<script>document.getElementById('f').submit()</script></html>").encode()

        class Evil(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.send_header("content-type", "text/html")
                self.end_headers()
                self.wfile.write(form)

            def log_message(self, *a):
                pass

        evil = http.server.HTTPServer(("127.0.0.1", evil_port), Evil)
        threading.Thread(target=evil.serve_forever, daemon=True).start()
        # localhost and 127.0.0.1 are different sites to the browser.
        attack = ctx.new_page()
        with attack.expect_response(lambda r: r.url.startswith(base + "/console/clients")
                                    and r.request.method == "POST") as posted:
            attack.goto(f"http://localhost:{evil_port}/")
        check(posted.value.status == 403, f"the cross-origin POST is refused: {posted.value.status}")
        attack.close()
        evil.shutdown()
        run.goto(page, "/console/clients")
        check("cross-site-client" not in page.content(), "the cross-origin POST created nothing")

        # Sign out: the old session cookie no longer works.
        cookie = next(c for c in ctx.cookies() if c["name"] == "tessera_console")
        check(cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/console",
              f"the session cookie's attributes: {cookie}")
        old = f"tessera_console={cookie['value']}"
        status, _, _ = api(base, "GET", "/console", cookie=old)
        check(status == 200, f"the session works before signing out: {status}")
        page.get_by_role("button", name="Sign out").click()
        page.wait_for_url("**/console/sign-in?done=signed-out")
        run.inspect(page, "sign-in")
        status, headers, _ = api(base, "GET", "/console", cookie=old)
        check(status == 303 and headers.get("location", headers.get("Location")) == "/console/sign-in",
              f"the old cookie no longer works: {status}")
        ctx.close()

        # The sign-in page on a phone, signed out.
        ctx = browser.new_context(viewport={"width": 375, "height": 812}, bypass_csp=True, service_workers="block")
        ctx.add_init_script(WATCH)
        narrow = ctx.new_page()
        run.watch(narrow)
        run.goto(narrow, "/console/sign-in")
        run.fits_a_phone(narrow, "375px-sign-in")
        ctx.close()

        # The CSP, in a normal context: an inline script is refused.
        ctx = browser.new_context(service_workers="block")
        ctx.add_init_script(WATCH)
        page = ctx.new_page()
        page.goto(base + "/console/sign-in")
        try:
            page.add_script_tag(content="window.__inline = 'ran'")
        except Exception:  # noqa: BLE001 - Playwright raises when the CSP blocks the tag
            pass
        check(page.evaluate("window.__inline") is None, "the CSP refuses inline scripts")
        check("script-src-elem" in page.evaluate("window.__csp") or "script-src" in page.evaluate("window.__csp"),
              f"the browser reports the CSP violation: {page.evaluate('window.__csp')}")
        ctx.close()

        # Without JavaScript: sign in with a password and create a client with plain forms.
        cli(binary, db, ["operator", "create", "nojs", "--password-stdin"], stdin=PASSWORD + "\n")
        ctx = browser.new_context(java_script_enabled=False)
        page = ctx.new_page()
        page.goto(base + "/console")
        page.wait_for_url("**/console/sign-in")
        page.get_by_label("Operator name").fill("nojs")
        page.get_by_label("Password").fill("wrong password, long enough")
        page.get_by_role("button", name="Sign in").click()
        check("Wrong operator name or password" in page.content(), "a wrong password is refused")
        page.get_by_label("Operator name").fill("nojs")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(base + "/console")
        page.goto(base + "/console/clients")
        page.get_by_label("New client's name").fill("made without javascript")
        page.get_by_role("button", name="Create client").click()
        page.wait_for_url("**?done=client-created")
        check(page.get_by_role("heading", level=1).inner_text() == "Client made without javascript",
              "a client is created with JavaScript off")
        ctx.close()
        browser.close()
        return run.shots
    except Exception:
        try:
            print(f"console check ({backend}): at {page.url}: {page.inner_text('body')[:1500]}")
            page.screenshot(path=os.path.join(artifacts, f"{backend}-FAILED.png"), full_page=True)
        except Exception:  # noqa: BLE001 - the page may be gone
            pass
        raise
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def main():
    if len(sys.argv) != 4 or sys.argv[3] not in ("sqlite", "postgres"):
        print(__doc__)
        return 64
    binary, artifacts, backend = sys.argv[1], sys.argv[2], sys.argv[3]
    browser_path = chromium()
    if browser_path is None:
        print("console check: no Chromium installed (apt-get install chromium)")
        return 2
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        print("console check: Playwright is not installed (pip install -r tests/contract/requirements.txt)")
        return 2
    axe = axe_source()
    if axe is None:
        print("console check: cannot install axe-core from npm (tests/console/package.json)")
        return 2
    os.makedirs(artifacts, exist_ok=True)
    for name in os.listdir(artifacts):
        if name.startswith(backend + "-") and name.endswith(".png"):
            os.remove(os.path.join(artifacts, name))
    db = Database(backend)
    started = time.monotonic()
    try:
        with sync_playwright() as pw:
            shots = flows(pw, browser_path, binary, db, artifacts, backend, axe)
    except Failure as e:
        print(f"console check ({backend}): FAILED: {e}")
        return 1
    finally:
        db.drop()
    print(f"console check ({backend}): every flow passed in Chromium; {len(shots)} pages scanned by axe-core "
          f"and saved in {artifacts} ({time.monotonic() - started:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
