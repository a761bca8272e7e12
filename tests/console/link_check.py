#!/usr/bin/env python3
"""The hosted Link flow, driven in headless Chromium (Debian's, through Playwright) as a
customer would, between real processes: `tessera serve` (SQLite or PostgreSQL, RUST_LOG=trace),
`tessera sandbox` (the pretend retailer and its connector), the webhook receiver of
examples/webhooks/receiver.py (a process of its own, verifying every signature) and the app's
own page that Link sends the customer back to. The app's side is plain HTTP (urllib) and
Subtotal's Python SDK (subtotal-ai-toolkit, unmodified).

The cases, one line each in the output:
   1. a link token, all the way at a 375x667 viewport: search the retailers, choose, consent,
      sign in at the sandbox (`user_otp`, a wrong code, `123456`), back at the app with
      `subtotal_link_result=success` and a `connection_id`; the signed `connection.activated`
      webhook arrived; the SDK reads the sandbox's three purchases;
   2. the customer leaves, with JavaScript off: Exit on tessera's page, Cancel on the
      sandbox's: back at the app with `subtotal_link_result=exit`, nothing linked;
   3. by keyboard alone (Tab, Shift+Tab, Space, Enter, typing): a wrong password, then the
      right one: success; and five wrong passwords: the session failed, back with `error`;
   4. a revoked link token: before opening it, and mid-flow at tessera's page and at the
      sandbox's: an error page, no redirect, nothing linked;
   5. a Link session past `--link-session-ttl` (a second server with the shortest TTL): the
      page says it expired;
   6. an unregistered redirect_url: a 400 page, the browser goes nowhere; none at all: leaving
      ends on tessera's own page;
   7. the session reference of a completed flow used again, at the sandbox and at tessera's
      /link/return (with and without the old cookie): refused, no second connection;
   8. re-authentication: `user_expiring`'s connection turns `unauthenticated`, the SDK's
      `create_merchant_link_url` makes a link-scope token, the Link URL is
      `{public}/link/{token}`; signing in again makes the same connection active (and the back
      button from the sandbox shows tessera's "Signing in" page);
   9. axe-core (npm, tests/console/package-lock.json) on every Link and sandbox page: no
      serious or critical violation; nothing wider than the 375 px viewport in case 1; no
      request left loopback; a screenshot of every page in ARTIFACT_DIR (deleted first);
  11. a session swap: with the customer's session open (its consent page names the app and the
      customer's masked email), a hostile page sends the browser to someone else's Link URL:
      no session starts, the cookie is kept, the page says a session is already open and whose,
      and continuing ends on the customer's own consent page;
  10. neither tessera nor the sandbox logged `lt_v1_`, `lsr_`, a link token, a link-scope
      connection token or a Link session cookie, at RUST_LOG=trace.

usage: link_check.py TESSERA_BINARY ARTIFACT_DIR sqlite|postgres
Exit 2 (with a message) when Chromium, Playwright, Node's axe-core or PostgreSQL is missing.
"""
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
from console_check import ARGS, KEK, PG_ADMIN, Database, Failure, api, axe_source, check, chromium  # noqa: E402
from common import first_key_in, free_port  # noqa: E402  (tests/contract, put on the path by console_check)
from browser_check import is_local, only_loopback  # noqa: E402

RECEIVER = os.path.join(ROOT, "examples", "webhooks", "receiver.py")
SESSION_TTL = 5  # the least --link-session-ttl takes
EXPIRE_AFTER = 3  # the sandbox's --expire-after for user_expiring
DESKTOP = {"width": 1280, "height": 900}
MOBILE = {"width": 375, "height": 667}


def env_for(db, **extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("TESSERA_") and k != "RUST_LOG"}
    env.update({"TESSERA_DATABASE_URL": db.url, "TESSERA_KEK": KEK, "RUST_LOG": "trace", "NO_COLOR": "1"})
    env.update(extra)
    return env


class Proc:
    """A process started for the run, its stdout and stderr kept whole in a file."""

    def __init__(self, name, cmd, env, log):
        self.name, self.log = name, log
        self.out = open(log, "wb")
        self.proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=self.out,
                                     stderr=subprocess.STDOUT)

    def text(self):
        with open(self.log, encoding="utf-8", errors="replace") as f:
            return f.read()

    def wait_line(self, prefix, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.text().splitlines():
                if line.strip().startswith(prefix):
                    return line.strip()
            if self.proc.poll() is not None:
                raise Failure(f"{self.name} exited with {self.proc.returncode}: {self.text()[-2000:]}")
            time.sleep(0.05)
        raise Failure(f"{self.name} did not print {prefix!r}: {self.text()[-2000:]}")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.out.close()


class Tessera:
    """`tessera serve` on a fresh database, with its first-start API key."""

    def __init__(self, binary, backend, tmp, name, extra=()):
        self.binary, self.db = binary, Database(backend)
        port = free_port()
        self.base = f"http://127.0.0.1:{port}"
        self.proc = Proc(name, [binary, "serve", "--bind", f"127.0.0.1:{port}", "--public-url", self.base,
                                "--webhook-allow-http", "--webhook-allow-private", *extra],
                         env_for(self.db, TESSERA_FIRST_KEY_FILE=os.path.join(tmp, f"{name}.first-api-key")),
                         os.path.join(tmp, f"{name}.log"))
        try:
            self.proc.wait_line("tessera listening on")
        except Failure:
            self.stop()
            raise
        self.key = next((k for k in map(first_key_in, self.proc.text().splitlines()) if k), None)
        check(self.key, f"{name} wrote its first-start API key to its file")

    def cli(self, *args):
        r = subprocess.run([self.binary, *args], capture_output=True, text=True, env=env_for(self.db), timeout=60)
        if r.returncode != 0:
            raise Failure(f"tessera {' '.join(args[:2])} failed: {r.stderr}")
        return r.stdout

    def call(self, method, path, body=None, want=None):
        status, _, text = api(self.base, method, path, self.key, body)
        if want is not None:
            check(status == want, f"{method} {path}: {status} {text[:300]}")
        return status, (json.loads(text) if text.strip().startswith(("{", "[")) else text)

    def link_token(self, customer):
        _, body = self.call("POST", "/link-tokens", {"customer_id": customer}, want=201)
        token = body["link_token"]
        check(re.fullmatch(r"lt_v1_[A-Za-z0-9_-]{43}", token), f"a link token: {token[:6]}")
        return token

    def connections(self, customer):
        _, body = self.call("GET", "/connections?" + urllib.parse.urlencode({"customer_id": customer}), want=200)
        return body["connections"]

    def stop(self):
        self.proc.stop()
        self.db.drop()


class App:
    """The app's own site: the page Link sends the customer back to, recording each visit."""

    def __init__(self):
        self.visits = []
        visits = self.visits

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                visits.append(self.path)
                body = (b"<!doctype html><html lang=en><title>The app</title><main><h1>Back in the app</h1>"
                        b"</main></html>")
                self.send_response(200)
                self.send_header("content-type", "text/html; charset=utf-8")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.redirect = self.origin + "/done"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()


def query(url):
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))


class Run:
    """What the cases share: the processes, the browser, what was seen."""

    def __init__(self, binary, backend, artifacts, axe, browser, tmp):
        self.binary, self.backend, self.artifacts, self.axe, self.browser, self.tmp = (
            binary, backend, artifacts, axe, browser, tmp)
        self.axe_problems, self.wide_pages, self.outside, self.shots, self.unscanned = [], [], [], [], []
        self.secrets = []  # every link token, reference, link-scope token and session cookie seen
        self.flow1 = None
        self.mobile = False
        self.current = 0

    # --- the browser ---------------------------------------------------------------------

    def context(self, viewport=DESKTOP, js=True):
        ctx = self.browser.new_context(viewport=viewport, java_script_enabled=js, service_workers="block")
        ctx.route("**/*", only_loopback(self.outside))
        ctx.on("websocket", lambda ws: None if is_local(ws.url) else self.outside.append(ws.url))
        return ctx

    def inspect(self, page, name, js=True):
        """axe-core on a Link or sandbox page (no serious or critical violation), its width at
        the mobile viewport, and a screenshot. With JavaScript off (`js=False`: nothing can be
        evaluated there, the same pages are scanned in the other cases) only the screenshot."""
        if not js:
            self.unscanned.append(name)
        else:
            try:
                page.evaluate(self.axe)
                found = page.evaluate(
                    "async () => { const r = await axe.run(document, {resultTypes: ['violations']});"
                    " return {passes: r.passes.length, violations: r.violations.map(v => ({id: v.id,"
                    " impact: v.impact, help: v.help, n: v.nodes.length, first: v.nodes[0] && v.nodes[0].html}))}; }")
            except Exception as e:  # noqa: BLE001 - axe-core that cannot run on a page fails case 9
                found = {"passes": 0, "violations": [], "error": str(e).splitlines()[0][:200]}
            if not found["passes"]:
                self.axe_problems.append(f"{name}: axe-core did not run ({found.get('error', 'no rule passed')})")
            bad = [v for v in found["violations"] if v["impact"] in ("serious", "critical")]
            if bad:
                self.axe_problems.append(f"{name} ({page.url}): {json.dumps(bad)}")
            if self.mobile:
                wide = page.evaluate("document.documentElement.scrollWidth")
                if wide > MOBILE["width"]:
                    self.wide_pages.append(f"{name}: {wide}px wide")
        shot = os.path.join(self.artifacts, f"{self.backend}-{name}.png")
        page.screenshot(path=shot, full_page=True)
        self.shots.append(shot)

    def failure_shots(self, ctx):
        """The pages of a context as they were when a case failed."""
        for i, page in enumerate(ctx.pages):
            try:
                page.screenshot(path=os.path.join(self.artifacts, f"{self.backend}-FAILED-case{self.current}-{i}.png"),
                                full_page=True)
            except Exception:  # noqa: BLE001 - the page may be gone
                pass

    def open(self, page, url, want=200):
        r = page.goto(url)
        check(r is not None and r.status == want, f"GET {url.split('?')[0]}: {r and r.status} (wanted {want}): "
                                                  f"{page.inner_text('body')[:300]}")
        return r

    # --- the processes -------------------------------------------------------------------

    def start(self):
        self.app = App()
        self.tessera = Tessera(self.binary, self.backend, self.tmp, "serve")
        t = self.tessera
        t.call("POST", "/redirect-urls", {"url": self.app.redirect}, want=201)
        self.connector = json.loads(t.cli("connector", "create", "--name", "sandbox", "--json"))["credential"]
        check(self.connector.startswith("tsc_"), "a connector credential")
        # The webhook receiver, a process of its own, verifying signatures.
        self.hooks = os.path.join(self.tmp, "hooks")
        os.makedirs(self.hooks)
        hook_port = free_port()
        self.receiver = Proc("receiver", [sys.executable, RECEIVER, str(hook_port)],
                             dict(os.environ, RECEIVER_DIR=self.hooks), os.path.join(self.tmp, "receiver.log"))
        self.receiver.wait_line("listening on")
        _, hook = t.call("POST", "/webhooks", {
            "name": "link-check", "url": f"http://127.0.0.1:{hook_port}/hook", "is_active": True,
            "event_types": ["connection.created", "connection.activated", "connection.unauthenticated"]}, want=201)
        with open(os.path.join(self.hooks, "secret"), "w") as f:
            f.write(hook["signing_secret"] + "\n")
        # The sandbox retailer.
        sandbox_port = free_port()
        self.sandbox = Proc("sandbox", [self.binary, "sandbox", "--tessera-url", t.base, "--listen",
                                        f"127.0.0.1:{sandbox_port}", "--expire-after", str(EXPIRE_AFTER)],
                            env_for(t.db, TESSERA_CONNECTOR_CREDENTIAL=self.connector),
                            os.path.join(self.tmp, "sandbox.log"))
        self.sandbox.wait_line("tessera sandbox: sign-in page")
        self.sandbox_origin = f"http://127.0.0.1:{sandbox_port}"
        self.second = None

    def stop(self):
        for name in ("sandbox", "receiver"):
            if hasattr(self, name):
                getattr(self, name).stop()
        for t in (getattr(self, "tessera", None), getattr(self, "second", None)):
            if t is not None:
                t.stop()
        if hasattr(self, "app"):
            self.app.stop()

    # --- helpers of the flows ------------------------------------------------------------

    def entry(self, token, base=None, **params):
        params = {"redirect_url": self.app.redirect, **params}
        return f"{base or self.tessera.base}/link/{token}?{urllib.parse.urlencode(params)}"

    def remember_cookie(self, ctx):
        for c in ctx.cookies():
            if c["name"] == "tessera_link" and c["value"] not in self.secrets:
                self.secrets.append(c["value"])

    def at_sandbox(self, page):
        check(page.url.startswith(f"{self.sandbox_origin}/sign-in?session=lsr_"), f"at the sandbox: {page.url}")
        reference = query(page.url)["session"]
        self.secrets.append(reference)
        return reference

    def back_at_app(self, page, result):
        check(page.url.startswith(self.app.redirect + "?"), f"back at the app: {page.url}")
        q = query(page.url)
        check(q.get("subtotal_link_result") == result, f"subtotal_link_result={result}: {page.url}")
        return q

    def events(self):
        path = os.path.join(self.hooks, "events.jsonl")
        if not os.path.exists(path):
            return []
        with open(path) as f:
            return [json.loads(line) for line in f if line.strip()]

    def wait_event(self, kind, connection_id, count=1, timeout=20):
        deadline = time.monotonic() + timeout
        while True:
            seen = [e for e in self.events() if e["event"].get("type") == kind
                    and e["event"].get("payload", {}).get("connection", {}).get("connection_id") == connection_id]
            if len(seen) >= count:
                check(all(e["verified"] for e in seen), f"{kind}: every delivery's signature verifies")
                return seen
            check(time.monotonic() < deadline, f"{kind} for {connection_id} never arrived ({len(seen)} of {count}); "
                                               f"the receiver has {[e['event'].get('type') for e in self.events()]}")
            time.sleep(0.2)

    def sdk(self):
        from subtotal_ai_toolkit.functions import SubtotalApiConfig
        return SubtotalApiConfig(secret_key=self.tessera.key, base_url=self.tessera.base)


# --- the cases -------------------------------------------------------------------------------

def case_success_mobile(run):
    """1. A link token, all the way, at 375x667."""
    from subtotal_ai_toolkit import functions
    t, ctx = run.tessera, run.context(MOBILE)
    run.mobile = True
    try:
        page = ctx.new_page()
        lt = t.link_token("cust-mobile")
        run.secrets.append(lt)
        run.open(page, run.entry(lt))
        check(page.url == f"{t.base}/link/session", f"the token left the address bar: {page.url}")
        run.remember_cookie(ctx)
        for name in ("Sandbox Books", "Sandbox Grocer", "Sandbox Outfitters"):
            check(page.get_by_text(name, exact=True).count() == 1, f"{name} is listed")
        run.inspect(page, "link-retailers")
        page.get_by_label("Search retailers").fill("books")
        page.get_by_role("button", name="Search").click()
        page.wait_for_url("**/link/session?q=books")
        check(page.get_by_text("Sandbox Books", exact=True).count() == 1
              and page.get_by_text("Sandbox Grocer", exact=True).count() == 0, "the search finds Sandbox Books only")
        run.inspect(page, "link-search")
        page.get_by_label("Sandbox Books").check()
        with page.expect_navigation():
            page.get_by_role("button", name="Continue", exact=True).click()
        check("wants to link your Sandbox Books account" in page.inner_text("h1"), f"consent: {page.inner_text('h1')}")
        run.inspect(page, "link-consent")
        page.get_by_role("button", name="Continue to Sandbox Books").click()
        page.wait_for_url(f"{run.sandbox_origin}/sign-in?session=*")
        reference = run.at_sandbox(page)
        sign_in_url = page.url
        check(page.get_by_role("heading", level=1).inner_text() == "Sign in to Sandbox Books", "the sandbox's page")
        run.inspect(page, "sandbox-sign-in")
        page.get_by_label("Username").fill("user_otp")
        page.get_by_label("Password").fill("pass_good")
        page.get_by_role("button", name="Sign in").click()
        page.get_by_label("One-time code").wait_for()
        run.inspect(page, "sandbox-code")
        page.get_by_label("One-time code").fill("654321")
        with page.expect_navigation():
            page.get_by_role("button", name="Continue").click()
        check(page.get_by_text("That code is not right").count() == 1, "a wrong code is refused")
        run.inspect(page, "sandbox-code-wrong")
        page.get_by_label("One-time code").fill("123456")
        # The last step's answer is a 303 to tessera; the cookie is still there to replay later.
        cookie = next(c for c in ctx.cookies() if c["name"] == "tessera_link")
        page.get_by_role("button", name="Continue").click()
        page.wait_for_url(f"{t.base}/link/return?session=*")
        check("Your Sandbox Books account is linked" in page.inner_text("h1"), f"linked: {page.inner_text('h1')}")
        run.inspect(page, "link-result")
        page.get_by_role("link", name=re.compile("^Return to ")).click()
        page.wait_for_url(run.app.redirect + "?*")
        run.mobile = False
        q = run.back_at_app(page, "success")
        connection_id = q.get("connection_id", "")
        check(re.fullmatch(r"[0-9A-Z]{26}", connection_id), f"a connection_id: {page.url}")
        check(run.app.visits and run.app.visits[-1].startswith("/done?"), "the app's page was really loaded")
        _, conn = t.call("GET", f"/connections/{connection_id}", want=200)
        check(conn["status"] == "active" and conn["retailer_id"] == "sandbox-books"
              and conn["customer_id"] == "cust-mobile", f"the connection: {conn}")
        run.wait_event("connection.activated", connection_id)
        purchases = functions.get_purchases(run.sdk(), connection_id)
        check(len(purchases.get("purchases", [])) == 3, f"the SDK reads the sandbox's three purchases: {purchases}")
        first = purchases["purchases"][0]["purchase_id"]
        detail = functions.get_purchase_details(run.sdk(), connection_id, first)
        check(detail.get("purchase_id") == first and detail.get("items"), f"one purchase whole: {detail}")
        run.flow1 = {"connection_id": connection_id, "sign_in_url": sign_in_url, "reference": reference,
                     "cookie": cookie, "customer": "cust-mobile"}
        return f"connection {connection_id} active, webhook verified, 3 purchases through the SDK"
    except Exception:
        run.failure_shots(ctx)
        raise
    finally:
        run.mobile = False
        ctx.close()


def case_exit_no_js(run):
    """2. The customer leaves, with JavaScript off."""
    t, ctx = run.tessera, run.context(js=False)
    try:
        page = ctx.new_page()
        lt = t.link_token("cust-exit")
        run.secrets.append(lt)
        run.open(page, run.entry(lt))
        run.remember_cookie(ctx)
        page.get_by_role("button", name="Exit").click()
        page.wait_for_url(run.app.redirect + "?*")
        q = run.back_at_app(page, "exit")
        check("connection_id" not in q, f"no connection after an exit: {page.url}")
        # From the sandbox's page: Cancel.
        lt = t.link_token("cust-cancel")
        run.secrets.append(lt)
        run.open(page, run.entry(lt, retailer_id="sandbox-outfitters"))
        run.remember_cookie(ctx)
        check("Sandbox Outfitters" in page.inner_text("h1"), f"retailer_id skips the choice: {page.inner_text('h1')}")
        run.inspect(page, "nojs-link-consent", js=False)
        page.get_by_role("button", name="Continue to Sandbox Outfitters").click()
        page.wait_for_url(f"{run.sandbox_origin}/sign-in?session=*")
        run.at_sandbox(page)
        run.inspect(page, "nojs-sandbox-sign-in", js=False)
        page.get_by_role("link", name="Cancel").click()
        page.wait_for_url(run.app.redirect + "?*")
        run.back_at_app(page, "exit")
        for customer in ("cust-exit", "cust-cancel"):
            check(t.connections(customer) == [], f"{customer} has no connection")
        return "Exit at tessera and Cancel at the sandbox both land with subtotal_link_result=exit"
    except Exception:
        run.failure_shots(ctx)
        raise
    finally:
        ctx.close()


def tab_to(page, test, what, back=False, most=40):
    """Tab (or Shift+Tab) until the focused element passes `test` (a JS expression of `e`)."""
    for _ in range(most):
        page.keyboard.press("Shift+Tab" if back else "Tab")
        if page.evaluate(f"(() => {{ const e = document.activeElement; return !!e && ({test}); }})()"):
            return
    raise Failure(f"{what} is not reachable with {'Shift+Tab' if back else 'Tab'}; focus is on "
                  + page.evaluate("document.activeElement && document.activeElement.outerHTML.slice(0, 200)"))


def case_keyboard(run):
    """3. By keyboard alone: a wrong password, then the right one. And five wrong ones: failed."""
    t, ctx = run.tessera, run.context()
    try:
        page = ctx.new_page()
        kb = page.keyboard
        lt = t.link_token("cust-keyboard")
        run.secrets.append(lt)
        run.open(page, run.entry(lt))
        run.remember_cookie(ctx)
        tab_to(page, "e.id === 'q'", "the retailer search")
        kb.type("grocer")
        with page.expect_navigation():
            kb.press("Enter")
        check(page.get_by_text("Sandbox Grocer", exact=True).count() == 1, "the search by keyboard")
        tab_to(page, "e.name === 'retailer_id' && e.value === 'sandbox-grocer'", "Sandbox Grocer's radio button")
        kb.press("Space")
        check(page.evaluate("document.activeElement.checked"), "Space chooses the retailer")
        tab_to(page, "e.tagName === 'BUTTON' && e.textContent.trim() === 'Continue'", "Continue")
        with page.expect_navigation():
            kb.press("Enter")
        check("wants to link your Sandbox Grocer account" in page.inner_text("h1"), "the consent page")
        tab_to(page, "e.tagName === 'BUTTON' && e.textContent.trim() === 'Continue to Sandbox Grocer'", "the consent")
        with page.expect_navigation():
            kb.press("Enter")
        page.wait_for_url(f"{run.sandbox_origin}/sign-in?session=*")
        run.at_sandbox(page)
        tab_to(page, "e.id === 'username'", "the username")
        kb.type("user_good")
        tab_to(page, "e.id === 'password'", "the password")
        kb.type("not the password")
        with page.expect_navigation():
            kb.press("Enter")
        alert = page.locator("[role=alert]")
        check(alert.count() == 1 and "Wrong username or password" in alert.inner_text(),
              f"a wrong password is refused: {page.inner_text('main')[:300]}")
        run.inspect(page, "sandbox-sign-in-wrong")
        tab_to(page, "e.id === 'password'", "the password, again")
        kb.type("pass_good")
        tab_to(page, "e.id === 'username'", "the username, back", back=True)
        check(page.evaluate("document.activeElement.value") == "user_good", "the username is kept after a failure")
        tab_to(page, "e.tagName === 'BUTTON' && e.textContent.trim() === 'Sign in'", "Sign in")
        with page.expect_navigation():
            kb.press("Space")
        page.wait_for_url(f"{t.base}/link/return?session=*")
        check("Your Sandbox Grocer account is linked" in page.inner_text("h1"), f"linked: {page.inner_text('h1')}")
        tab_to(page, "e.tagName === 'A' && e.textContent.trim().startsWith('Return to ')", "the way back")
        with page.expect_navigation():
            kb.press("Enter")
        connection_id = run.back_at_app(page, "success").get("connection_id")
        conns = t.connections("cust-keyboard")
        check([c["connection_id"] for c in conns] == [connection_id] and conns[0]["status"] == "active",
              f"one active connection: {conns}")
        # Five wrong passwords (with the mouse): the session ends as failed, and the way back
        # says error.
        lt = t.link_token("cust-five-failures")
        run.secrets.append(lt)
        run.open(page, run.entry(lt, retailer_id="sandbox-grocer"))
        run.remember_cookie(ctx)
        page.get_by_role("button", name="Continue to Sandbox Grocer").click()
        page.wait_for_url(f"{run.sandbox_origin}/sign-in?session=*")
        run.at_sandbox(page)
        for _ in range(5):
            page.get_by_label("Username").fill("user_good")
            page.get_by_label("Password").fill("wrong")
            with page.expect_navigation():
                page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"{t.base}/link/return?session=*")
        check(page.inner_text("h1") == "The account was not linked", f"failed: {page.inner_text('main')[:300]}")
        run.inspect(page, "link-result-failed")
        page.get_by_role("link", name=re.compile("^Return to ")).click()
        page.wait_for_url(run.app.redirect + "?*")
        run.back_at_app(page, "error")
        check(t.connections("cust-five-failures") == [], "nothing linked after five failures")
        return (f"Tab/Shift+Tab/Space/Enter only; connection {connection_id} active; five failures: "
                "subtotal_link_result=error")
    except Exception:
        run.failure_shots(ctx)
        raise
    finally:
        ctx.close()


def case_revoked(run):
    """4. A revoked link token: before opening, and mid-flow at tessera and at the sandbox."""
    t, ctx = run.tessera, run.context()
    try:
        page = ctx.new_page()
        visits = len(run.app.visits)
        lt = t.link_token("cust-revoked")
        run.secrets.append(lt)
        t.call("DELETE", f"/link-tokens/{lt}", want=204)
        url = run.entry(lt)
        run.open(page, url, want=410)
        check(page.url == url, f"no redirect: {page.url}")
        check("revoked or has expired" in page.inner_text("body"), f"the page says why: {page.inner_text('body')}")
        check(ctx.cookies() == [], "no session cookie for a revoked token")
        run.inspect(page, "link-revoked")
        # Mid-flow, at tessera's retailer page.
        lt = t.link_token("cust-revoked-mid")
        run.secrets.append(lt)
        run.open(page, run.entry(lt))
        run.remember_cookie(ctx)
        page.get_by_label("Sandbox Books").check()
        t.call("DELETE", f"/link-tokens/{lt}", want=204)
        with page.expect_navigation() as nav:
            page.get_by_role("button", name="Continue", exact=True).click()
        check(nav.value.status == 410, f"the next step is 410: {nav.value.status}")
        check(page.url == f"{t.base}/link/session/retailer", f"no redirect: {page.url}")
        run.inspect(page, "link-revoked-mid-flow")
        # Mid-flow, at the sandbox's sign-in page.
        lt = t.link_token("cust-revoked-sandbox")
        run.secrets.append(lt)
        run.open(page, run.entry(lt, retailer_id="sandbox-books"))
        run.remember_cookie(ctx)
        page.get_by_role("button", name="Continue to Sandbox Books").click()
        page.wait_for_url(f"{run.sandbox_origin}/sign-in?session=*")
        run.at_sandbox(page)
        t.call("DELETE", f"/link-tokens/{lt}", want=204)
        page.get_by_label("Username").fill("user_good")
        page.get_by_label("Password").fill("pass_good")
        with page.expect_navigation() as nav:
            page.get_by_role("button", name="Sign in").click()
        check(nav.value.status in (404, 410), f"the sandbox refuses: {nav.value.status}")
        check(page.url == f"{run.sandbox_origin}/sign-in", f"no redirect: {page.url}")
        check("expired or was already used" in page.inner_text("body"), page.inner_text("body")[:300])
        run.inspect(page, "sandbox-revoked")
        check(len(run.app.visits) == visits, "the app saw nobody")
        for customer in ("cust-revoked", "cust-revoked-mid", "cust-revoked-sandbox"):
            check(t.connections(customer) == [], f"{customer} has no connection")
        return "410 before and at tessera's next step, the sandbox's expired page; no redirect, nothing linked"
    except Exception:
        run.failure_shots(ctx)
        raise
    finally:
        ctx.close()


def case_expired(run):
    """5. A session past --link-session-ttl, on a second server with the shortest TTL."""
    run.second = Tessera(run.binary, run.backend, run.tmp, "serve-short-ttl",
                         ["--link-session-ttl", str(SESSION_TTL)])
    t, ctx = run.second, run.context()
    try:
        t.call("POST", "/redirect-urls", {"url": run.app.redirect}, want=201)
        # Link offers only retailers a connector has a sign-in page for (never reached here).
        credential = json.loads(t.cli("connector", "create", "--name", "short-ttl", "--json"))["credential"]
        status, _, text = api(t.base, "PUT", "/connector/link-url", credential,
                              {"url": "http://127.0.0.1:9/sign-in", "retailer_ids": None})
        check(status == 200, f"a sign-in page on the second server: {status} {text[:300]}")
        page = ctx.new_page()
        lt = t.link_token("cust-expired")
        run.secrets.append(lt)
        run.open(page, run.entry(lt, base=t.base))
        run.remember_cookie(ctx)
        cookie = next(c for c in ctx.cookies() if c["name"] == "tessera_link")
        page.locator("input[name=retailer_id]").first.check()
        time.sleep(SESSION_TTL + 1.5)
        # The browser dropped the cookie with its Max-Age; a page opened now says it expired.
        other = ctx.new_page()
        run.open(other, f"{t.base}/link/session", want=410)
        check("expired" in other.inner_text("main"), f"a reload says it expired: {other.inner_text('main')[:300]}")
        run.inspect(other, "link-expired")
        # tessera's own clock, not only the cookie's age: the old cookie put back is refused too.
        ctx.add_cookies([{"name": cookie["name"], "value": cookie["value"], "domain": cookie["domain"],
                          "path": cookie["path"]}])
        run.open(other, f"{t.base}/link/session", want=410)
        check("expired" in other.inner_text("main"), f"the old cookie: {other.inner_text('main')[:300]}")
        ctx.clear_cookies()
        check(t.connections("cust-expired") == [], "nothing linked")
        # The customer, on the page left open, presses Continue.
        with page.expect_navigation() as nav:
            page.get_by_role("button", name="Continue", exact=True).click()
        body = page.inner_text("main")
        check(nav.value.status == 410 and "expired" in body,
              f"Continue on the page left open past the TTL answers {nav.value.status}: {body[:300]!r} "
              "(wanted 410 and a page that says the session expired)")
        run.inspect(page, "link-expired-continue")
        return f"after {SESSION_TTL} s: 410, \"{page.locator('[role=alert]').inner_text()}\""
    except Exception:
        run.failure_shots(ctx)
        raise
    finally:
        ctx.close()
        run.second.stop()
        run.secrets_logs = getattr(run, "secrets_logs", []) + [(run.second.proc.name, run.second.proc.text())]
        run.second = None


def case_unregistered_redirect(run):
    """6. An unregistered redirect_url: a 400 page, and the browser goes nowhere."""
    t, ctx = run.tessera, run.context()
    try:
        page = ctx.new_page()
        visits, outside = len(run.app.visits), len(run.outside)
        for i, target in enumerate([run.app.origin + "/elsewhere", "https://evil.example/",
                                    run.app.redirect + "?extra=1"]):
            lt = t.link_token(f"cust-unregistered-{i}")
            run.secrets.append(lt)
            url = run.entry(lt, redirect_url=target)
            run.open(page, url, want=400)
            check(page.url == url, f"no redirect: {page.url}")
            body = page.content()
            check("not one this app registered" in body, f"the page says why: {page.inner_text('body')[:300]}")
            check(target not in body and urllib.parse.quote(target, safe="") not in body,
                  "no way to the unregistered URL on the page")
            check(ctx.cookies() == [], "no session was started")
            if i == 0:
                run.inspect(page, "link-unregistered-redirect")
        check(len(run.app.visits) == visits and len(run.outside) == outside, "the browser went nowhere")
        # No redirect_url at all: leaving ends on tessera's own page.
        lt = t.link_token("cust-no-redirect")
        run.secrets.append(lt)
        run.open(page, f"{t.base}/link/{lt}")
        run.remember_cookie(ctx)
        with page.expect_navigation():
            page.get_by_role("button", name="Exit").click()
        check(page.url == f"{t.base}/link/session/exit" and page.inner_text("h1") == "You left Link",
              f"without a redirect_url, the exit page: {page.url} {page.inner_text('main')[:200]}")
        run.inspect(page, "link-exited")
        check(len(run.app.visits) == visits, "the app saw nobody")
        return ("3 unregistered URLs (another path, another host, an extra query): 400, no redirect; "
                "none given: tessera's own exit page")
    except Exception:
        run.failure_shots(ctx)
        raise
    finally:
        ctx.close()


def case_replay(run):
    """7. The reference of a completed flow used again: refused, no second connection."""
    check(run.flow1 is not None, "needs case 1's completed flow")
    t, f, ctx = run.tessera, run.flow1, run.context()
    try:
        page = ctx.new_page()
        visits = len(run.app.visits)
        run.open(page, f["sign_in_url"], want=404)
        check("expired or was already used" in page.inner_text("body"), page.inner_text("body")[:300])
        check(page.locator("form").count() == 0, "no sign-in form for a used reference")
        run.inspect(page, "sandbox-replayed")
        back = f"{t.base}/link/return?{urllib.parse.urlencode({'session': f['reference']})}"
        r = page.goto(back)
        check(r.status in (404, 409, 410), f"/link/return again, without the cookie: {r.status}")
        check(page.url == back, f"no redirect: {page.url}")
        run.inspect(page, "link-return-replayed")
        status, _, text = api(t.base, "GET", f"/connector/link-sessions/{f['reference']}", run.connector)
        check(status == 404, f"the connector API no longer knows the reference: {status} {text[:200]}")
        conns = t.connections(f["customer"])
        check([x["connection_id"] for x in conns] == [f["connection_id"]], f"still one connection: {conns}")
        check(len(run.app.visits) == visits, "the app saw nobody")
        run.wait_event("connection.activated", f["connection_id"])
        time.sleep(0.5)
        activated = [e for e in run.events() if e["event"].get("type") == "connection.activated"
                     and e["event"]["payload"]["connection"]["connection_id"] == f["connection_id"]]
        check(len({e["event"]["id"] for e in activated}) == 1, f"one activation event: {len(activated)}")
        # And with the old cookie put back, as someone who kept it would.
        c = f["cookie"]
        ctx.add_cookies([{"name": c["name"], "value": c["value"], "domain": c["domain"], "path": c["path"]}])
        r = page.goto(back)
        check(r.status in (404, 409, 410), f"/link/return again, with the old cookie: {r.status} "
                                           f"{page.inner_text('main')[:300]!r}")
        check(page.url == back, f"no redirect: {page.url}")
        ways = [page.get_by_role("link", name=re.compile("^Return to ")).nth(i).get_attribute("href")
                for i in range(page.get_by_role("link", name=re.compile("^Return to ")).count())]
        check(all(query(href).get("subtotal_link_result") == "error" for href in ways),
              f"the way back, if any, says error, never success once more: {ways}")
        check([x["connection_id"] for x in t.connections(f["customer"])] == [f["connection_id"]],
              "still one connection")
        return "sandbox 404, /link/return refused with and without the cookie, one connection"
    except Exception:
        run.failure_shots(ctx)
        raise
    finally:
        ctx.close()


def case_reauth(run):
    """8. Re-authentication through the SDK's create_merchant_link_url."""
    from subtotal_ai_toolkit import functions
    t, ctx = run.tessera, run.context()
    try:
        page = ctx.new_page()
        lt = t.link_token("cust-reauth")
        run.secrets.append(lt)
        run.open(page, run.entry(lt, retailer_id="sandbox-books"))
        run.remember_cookie(ctx)
        page.get_by_role("button", name="Continue to Sandbox Books").click()
        page.wait_for_url(f"{run.sandbox_origin}/sign-in?session=*")
        run.at_sandbox(page)
        # The back button from the sandbox: tessera says where the customer is.
        page.go_back()
        page.wait_for_url(f"{t.base}/link/session")
        check(page.inner_text("h1") == "Signing in", f"the back button: {page.inner_text('main')[:200]}")
        run.inspect(page, "link-at-connector")
        page.go_forward()
        page.wait_for_url(f"{run.sandbox_origin}/sign-in?session=*")
        page.get_by_label("Username").fill("user_expiring")
        page.get_by_label("Password").fill("pass_good")
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"{t.base}/link/return?session=*")
        page.get_by_role("link", name=re.compile("^Return to ")).click()
        page.wait_for_url(run.app.redirect + "?*")
        connection_id = run.back_at_app(page, "success")["connection_id"]
        deadline = time.monotonic() + EXPIRE_AFTER + 15
        while True:
            _, conn = t.call("GET", f"/connections/{connection_id}", want=200)
            if conn["status"] == "unauthenticated":
                break
            check(time.monotonic() < deadline, f"the connection never became unauthenticated: {conn}")
            time.sleep(0.25)
        run.wait_event("connection.unauthenticated", connection_id)
        # The SDK mints the link-scope token; the Link URL is the Link base URL, "/", the token.
        link_base = f"{t.base}/link"
        minted = functions.create_merchant_link_url(run.sdk(), connection_id)
        token = minted.get("connection_token", "")
        run.secrets.append(token)
        link_url = f"{link_base}/{token}"
        check(re.fullmatch(re.escape(t.base) + r"/link/[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+", link_url),
              f"the Link URL is {{public}}/link/{{token}}: {link_url[:60]}")
        params = urllib.parse.urlencode({"redirect_url": run.app.redirect, "connection_id": connection_id})
        run.open(page, f"{link_url}?{params}")
        check(page.url == f"{t.base}/link/session", f"the token left the address bar: {page.url}")
        run.remember_cookie(ctx)
        check(page.inner_text("h1") == "Sign in to Sandbox Books again", f"the re-link page: {page.inner_text('h1')}")
        run.inspect(page, "link-relink-consent")
        page.get_by_role("button", name="Continue to Sandbox Books").click()
        page.wait_for_url(f"{run.sandbox_origin}/sign-in?session=*")
        run.at_sandbox(page)
        page.get_by_label("Username").fill("user_good")
        page.get_by_label("Password").fill("pass_good")
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"{t.base}/link/return?session=*")
        check("is linked" in page.inner_text("h1"), f"linked again: {page.inner_text('h1')}")
        run.inspect(page, "link-relink-result")
        page.get_by_role("link", name=re.compile("^Return to ")).click()
        page.wait_for_url(run.app.redirect + "?*")
        again = run.back_at_app(page, "success").get("connection_id")
        check(again == connection_id, f"the same connection: {again} vs {connection_id}")
        _, conn = t.call("GET", f"/connections/{connection_id}", want=200)
        check(conn["status"] == "active", f"active again: {conn}")
        conns = t.connections("cust-reauth")
        check([c["connection_id"] for c in conns] == [connection_id], f"no new connection: {conns}")
        run.wait_event("connection.activated", connection_id, count=2)
        # The link-scope token still unlocks no data.
        req_status, _, _ = api(t.base, "GET", "/purchases", t.key, headers={"authorization": f"Bearer {token}"})
        check(req_status == 401, f"a link-scope token reads no purchases: {req_status}")
        return f"unauthenticated after ~{EXPIRE_AFTER} s, re-linked through {{public}}/link/{{token}}, same connection"
    except Exception:
        run.failure_shots(ctx)
        raise
    finally:
        ctx.close()


def case_pages(run):
    """9. axe-core, the mobile width, only loopback, screenshots."""
    problems = []
    if run.axe_problems:
        problems.append("axe-core: " + "; ".join(run.axe_problems))
    if run.wide_pages:
        problems.append("wider than 375 px: " + ", ".join(run.wide_pages))
    if run.outside:
        problems.append(f"requests off loopback: {sorted(set(run.outside))[:10]}")
    missing = [s for s in run.shots if not os.path.exists(s) or os.path.getsize(s) == 0]
    if missing:
        problems.append(f"screenshots missing: {missing}")
    scanned = len(run.shots) - len(run.unscanned)
    check(scanned >= 20, f"only {scanned} pages were scanned by axe-core")
    check(not problems, " | ".join(problems))
    return (f"{scanned} pages scanned by axe-core ({len(run.unscanned)} with JavaScript off only screenshotted), "
            f"no request off loopback, {len(run.shots)} screenshots")


def case_secrets(run):
    """10. No link token, reference, link-scope token or Link cookie in the logs."""
    time.sleep(0.5)
    logs = [("tessera serve", run.tessera.proc.text()), ("tessera sandbox", run.sandbox.text())]
    logs += getattr(run, "secrets_logs", [])
    check(len(run.secrets) >= 10, f"only {len(run.secrets)} secrets were collected")
    problems = []
    for name, text in logs:
        check(re.search(r"\b(TRACE|DEBUG)\b", text), f"{name} logged below info level ({len(text)} bytes)")
        for marker in ("lt_v1_", "lsr_"):
            if marker in text:
                at = text.index(marker)
                problems.append(f"{name} logged {marker!r}: ...{text[max(0, at - 200):at + 60]!r}")
        for s in run.secrets:
            if s and s in text:
                at = text.index(s)
                problems.append(f"{name} logged a secret {s[:8]}...: ...{text[max(0, at - 200):at]!r}")
    check(not problems, " | ".join(problems[:4]))
    return (f"{len(run.secrets)} secrets absent from {len(logs)} logs "
            f"({', '.join(f'{n}: {len(x) // 1024} KiB' for n, x in logs)})")


def case_session_swap(run):
    """11. A second Link URL never silently replaces the open session."""
    t, ctx = run.tessera, run.context(MOBILE)
    run.mobile = True
    try:
        _, own = t.call("POST", "/link-tokens", {"customer_id": "cust-swap", "email": "jane.doe@example.com"}, want=201)
        _, hostile = t.call("POST", "/link-tokens", {"customer_id": "attacker", "email": "mallory@evil.example"},
                            want=201)
        run.secrets.extend([own["link_token"], hostile["link_token"]])
        page = ctx.new_page()
        run.open(page, run.entry(own["link_token"], retailer_id="sandbox-books"))
        run.remember_cookie(ctx)
        body = page.inner_text("main")
        check("j•••@example.com" in body and "jane.doe" not in body, f"the consent page names the customer: {body}")
        check(page.locator("main strong", has_text="default").count() >= 1, "and the app by name")
        cookie = next(c["value"] for c in ctx.cookies() if c["name"] == "tessera_link")
        # A hostile page sends this browser to the attacker's own Link URL (a top-level GET,
        # which carries the SameSite=Lax cookie).
        r = page.goto(run.entry(hostile["link_token"], retailer_id="sandbox-books"))
        check(r is not None and r.status == 409 and "already open" in page.inner_text("h1"),
              f"refused: {r and r.status} {page.inner_text('body')[:300]}")
        now = next(c["value"] for c in ctx.cookies() if c["name"] == "tessera_link")
        check(now == cookie, "the open session's cookie is kept")
        body = page.inner_text("main")
        check("j•••@example.com" in body and "evil.example" not in body, f"the page says whose session is open: {body}")
        run.inspect(page, "link-already-open")
        page.get_by_role("link", name="Continue the open session").click()
        page.wait_for_url(f"{t.base}/link/session")
        check("wants to link your Sandbox Books account" in page.inner_text("h1")
              and "j•••@example.com" in page.inner_text("main"), "back at the customer's own consent page")
        check(not t.connections("attacker"), "nothing was linked for the attacker")
        return "no session started, the cookie kept, the customer told whose session is open"
    except Exception:
        run.failure_shots(ctx)
        raise
    finally:
        run.mobile = False
        ctx.close()


CASES = [
    (1, "link token to success at 375x667, webhook, SDK purchases", case_success_mobile),
    (2, "exit and cancel, JavaScript off", case_exit_no_js),
    (3, "wrong password then right, keyboard only", case_keyboard),
    (4, "revoked link token, before and mid-flow", case_revoked),
    (5, "expired Link session", case_expired),
    (6, "unregistered redirect_url", case_unregistered_redirect),
    (7, "replayed session reference", case_replay),
    (8, "re-authentication through the SDK's link-scope token", case_reauth),
    (11, "a second Link URL never replaces the open session", case_session_swap),
    (9, "axe-core, mobile width, loopback only, screenshots", case_pages),
    (10, "no link token or session secret in the logs (RUST_LOG=trace)", case_secrets),
]


def main():
    if len(sys.argv) != 4 or sys.argv[3] not in ("sqlite", "postgres"):
        print(__doc__)
        return 64
    binary, artifacts, backend = os.path.abspath(sys.argv[1]), sys.argv[2], sys.argv[3]
    browser_path = chromium()
    if browser_path is None:
        print("link check: no Chromium installed (apt-get install chromium)")
        return 2
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        print("link check: Playwright is not installed (pip install -r tests/contract/requirements.txt)")
        return 2
    try:
        import subtotal_ai_toolkit  # noqa: F401
    except ImportError:
        print("link check: subtotal-ai-toolkit is not installed (pip install -r tests/contract/requirements.txt)")
        return 2
    if backend == "postgres":
        if shutil.which("psql") is None:
            print("link check: psql (Debian's postgresql-client) is needed to create the test databases")
            return 2
        r = subprocess.run(["psql", PG_ADMIN, "-qc", "SELECT 1"], capture_output=True, text=True)
        if r.returncode != 0:
            print(f"link check: PostgreSQL at {PG_ADMIN} is not reachable: {r.stderr.strip()}")
            return 2
    axe = axe_source()
    if axe is None:
        print("link check: cannot install axe-core from npm (tests/console/package.json)")
        return 2
    os.makedirs(artifacts, exist_ok=True)
    for name in os.listdir(artifacts):
        if name.startswith(backend + "-") and name.endswith(".png"):
            os.remove(os.path.join(artifacts, name))
    started = time.monotonic()
    failed = 0
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=browser_path, headless=True, args=ARGS)
        run = Run(binary, backend, artifacts, axe, browser, tmp)
        try:
            run.start()
        except (Failure, SystemExit) as e:
            print(f"link check ({backend}): FAILED to start: {e}")
            run.stop()
            return 1
        try:
            for number, title, case in CASES:
                t0, run.current = time.monotonic(), number
                try:
                    detail = case(run)
                    print(f"link check ({backend}): {number:>2} pass  {title}: {detail} "
                          f"({time.monotonic() - t0:.1f} s)", flush=True)
                except Exception as e:  # noqa: BLE001 - a case that fails, however, is reported and the next runs
                    failed += 1
                    message = str(e) if isinstance(e, Failure) else f"{type(e).__name__}: {e}"
                    print(f"link check ({backend}): {number:>2} FAIL  {title}: {message[:3000]}", flush=True)
        finally:
            run.stop()
            browser.close()
    print(f"link check ({backend}): {len(CASES) - failed} passed, {failed} failed "
          f"({time.monotonic() - started:.1f} s)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
