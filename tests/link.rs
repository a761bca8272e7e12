//! The hosted Link flow end to end, between real processes: `tessera serve` and
//! `tessera sandbox` (the pretend retailer and its connector), driven over HTTP the way a
//! browser without JavaScript would: redirects followed by hand, the `tessera_link` cookie
//! carried by hand, every form's `csrf` read from the page, every POST with its `Origin`.
//! Covered: a link token through retailer search, consent, a wrong password, a one-time code
//! and back to the app, the connection and its purchases; the sandbox's reference used again;
//! an unregistered redirect URL; a revoked link token (new and running sessions); an exit.
//! Neither process may print a link token or a session reference, at any level (`RUST_LOG=trace`: every target, every level).
use std::io::{BufRead as _, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, COOKIE, LOCATION, ORIGIN, SET_COOKIE};
use serde_json::{Value, json};

use crate::support::server::{BIN, TEST_DB_TIMEOUT};
use crate::support::{Backend, TestDb};

const REDIRECT: &str = "http://127.0.0.1:9/done";

/// A child process, killed when dropped, whose stdout and stderr are kept whole.
struct Proc {
    child: Child,
    output: Arc<Mutex<String>>,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proc {
    /// Starts `cmd`; returns once a stdout line satisfies `ready`, with that line.
    fn spawn(mut cmd: Command, what: &str, ready: impl Fn(&str) -> bool) -> (Proc, String) {
        let mut child = cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawns");
        let output = Arc::new(Mutex::new(String::new()));
        let mut stderr = child.stderr.take().expect("stderr");
        let sink = output.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            while let Ok(n) = stderr.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().expect("lock").push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let (tx, rx) = std::sync::mpsc::channel();
        let stdout = child.stdout.take().expect("stdout");
        let sink = output.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                sink.lock().expect("lock").push_str(&format!("{line}\n"));
                let _ = tx.send(line);
            }
        });
        let proc = Proc { child, output };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) if ready(line.trim()) => return (proc, line.trim().to_owned()),
                Ok(_) => {}
                Err(_) => panic!("{what} did not start; it printed:\n{}", proc.output()),
            }
        }
    }

    fn output(&self) -> String {
        self.output.lock().expect("lock").clone()
    }
}

/// One answer: status, `Location`, the `tessera_link` cookie it set (if any), body.
struct Page {
    status: StatusCode,
    location: Option<String>,
    cookie: Option<String>,
    body: String,
}

impl Page {
    /// The `csrf` hidden input of the page's forms.
    fn csrf(&self) -> String {
        between(&self.body, "name=\"csrf\" value=\"", "\"").unwrap_or_else(|| panic!("no csrf in {}", self.body))
    }
}

fn between(text: &str, start: &str, end: &str) -> Option<String> {
    let from = text.find(start)? + start.len();
    let len = text[from..].find(end)?;
    Some(text[from..from + len].to_owned())
}

/// A browser with redirects off: the cookie and the `Origin` are the test's to send.
struct Browser {
    http: reqwest::Client,
}

impl Browser {
    fn new() -> Self {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .expect("client");
        Self { http }
    }

    async fn page(&self, req: reqwest::RequestBuilder) -> Page {
        let r = req.send().await.expect("answered");
        let status = r.status();
        let location = r.headers().get(LOCATION).map(|v| v.to_str().expect("ascii").to_owned());
        let cookie = r
            .headers()
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|v| v.strip_prefix("tessera_link="))
            .map(|v| v.split(';').next().unwrap_or_default().to_owned());
        Page { status, location, cookie, body: r.text().await.expect("body") }
    }

    async fn get(&self, url: &str, cookie: Option<&str>) -> Page {
        let mut req = self.http.get(url);
        if let Some(c) = cookie {
            req = req.header(COOKIE, format!("tessera_link={c}"));
        }
        self.page(req).await
    }

    /// A form POST from a page of `origin`.
    async fn post(&self, origin: &str, url: &str, cookie: Option<&str>, fields: &[(&str, &str)]) -> Page {
        let body = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(fields).finish();
        let mut req = self
            .http
            .post(url)
            .header(ORIGIN, origin)
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body);
        if let Some(c) = cookie {
            req = req.header(COOKIE, format!("tessera_link={c}"));
        }
        self.page(req).await
    }
}

/// A JSON call to tessera's API with one credential.
async fn api(http: &reqwest::Client, method: &str, url: &str, key: &str, body: Option<Value>) -> (u16, Value) {
    let mut req = http.request(method.parse().expect("method"), url).header("x-api-key", key);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let status = r.status().as_u16();
    let text = r.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// `tessera serve` on a fresh SQLite database, at debug level: the process and its API key.
fn serve(db: &TestDb) -> (Proc, String, String) {
    let mut cmd = Command::new(BIN);
    cmd.args(["serve", "--bind", "127.0.0.1:0"])
        .env_remove("TESSERA_KEK")
        .env_remove("TESSERA_PUBLIC_URL")
        .envs(db.env())
        .env("TESSERA_DB_TIMEOUT", TEST_DB_TIMEOUT)
        .env("RUST_LOG", "trace");
    let (proc, line) = Proc::spawn(cmd, "tessera serve", |l| l.starts_with("tessera listening on "));
    let base = line.trim_start_matches("tessera listening on ").to_owned();
    let key = proc
        .output()
        .lines()
        .find_map(crate::support::server::first_key_in)
        .expect("the bootstrap API key was written to its file");
    (proc, base, key)
}

/// `tessera sandbox` registered with the tessera at `base`: the process and its origin.
fn sandbox(base: &str, credential: &str) -> (Proc, String) {
    let mut cmd = Command::new(BIN);
    cmd.args(["sandbox", "--tessera-url", base, "--connector-credential", credential, "--listen", "127.0.0.1:0"])
        .env_remove("TESSERA_SANDBOX_PUBLIC_URL")
        .env_remove("TESSERA_CONFIG")
        .env("RUST_LOG", "trace");
    let (proc, line) = Proc::spawn(cmd, "tessera sandbox", |l| l.starts_with("tessera sandbox: sign-in page "));
    let url = between(&line, "sign-in page ", " ").expect("sign-in URL");
    let origin = url.strip_suffix("/sign-in").expect("ends in /sign-in").to_owned();
    (proc, origin)
}

/// The `href` of the page's "Return to" link, unescaped.
fn return_link(body: &str) -> String {
    let start = body.find("class=\"button\" href=\"").or_else(|| body.find("href=\"http://127.0.0.1:9/"));
    let at = start.unwrap_or_else(|| panic!("no return link in {body}"));
    between(&body[at..], "href=\"", "\"").expect("href").replace("&amp;", "&")
}

fn query_param(url: &str, name: &str) -> Option<String> {
    let url = url::Url::parse(url).expect("URL");
    url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn link_flow_end_to_end_with_the_sandbox() {
    let db = TestDb::new(Backend::Sqlite).await.expect("sqlite");
    let (tessera, base, key) = serve(&db);
    let created = crate::support::server::cli_json(&db, &["connector", "create", "--name", "sandbox", "--json"]);
    let credential = created["credential"].as_str().expect("credential").to_owned();
    assert!(credential.starts_with("tsc_"), "{created}");
    let (sandbox, sandbox_origin) = sandbox(&base, &credential);

    let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().expect("client");
    let browser = Browser::new();
    let (status, body) =
        api(&http, "POST", &format!("{base}/redirect-urls"), &key, Some(json!({"url": REDIRECT}))).await;
    assert_eq!(status, 201, "{body}");
    let link_token = |customer: &'static str| {
        let (http, base, key) = (http.clone(), base.clone(), key.clone());
        async move {
            let (status, body) =
                api(&http, "POST", &format!("{base}/link-tokens"), &key, Some(json!({"customer_id": customer}))).await;
            assert_eq!(status, 201, "{body}");
            let lt = body["link_token"].as_str().expect("link_token").to_owned();
            assert!(lt.starts_with("lt_v1_") && lt.len() == 49, "{lt}");
            lt
        }
    };
    let entry = |lt: &str| {
        let q = url::form_urlencoded::Serializer::new(String::new()).append_pair("redirect_url", REDIRECT).finish();
        format!("{base}/link/{lt}?{q}")
    };
    let mut secrets: Vec<String> = Vec::new();

    // 1. A link token, all the way: search, choose, consent, sign in (wrong, then OTP), back.
    let lt = link_token("cust-1").await;
    secrets.push(lt.clone());
    let start = browser.get(&entry(&lt), None).await;
    assert_eq!(start.status, StatusCode::SEE_OTHER, "{}", start.body);
    assert_eq!(start.location.as_deref(), Some("/link/session"));
    let cookie = start.cookie.expect("the session cookie");
    let listing = browser.get(&format!("{base}/link/session"), Some(&cookie)).await;
    assert_eq!(listing.status, StatusCode::OK, "{}", listing.body);
    for name in ["Sandbox Books", "Sandbox Grocer", "Sandbox Outfitters"] {
        assert!(listing.body.contains(name), "{name} listed: {}", listing.body);
    }
    let found = browser.get(&format!("{base}/link/session?q=books"), Some(&cookie)).await;
    assert_eq!(found.status, StatusCode::OK);
    assert!(found.body.contains("Sandbox Books") && !found.body.contains("Sandbox Grocer"), "{}", found.body);
    let csrf = found.csrf();
    let chosen = browser
        .post(
            &base,
            &format!("{base}/link/session/retailer"),
            Some(&cookie),
            &[("csrf", &csrf), ("retailer_id", "sandbox-books")],
        )
        .await;
    assert_eq!(chosen.status, StatusCode::SEE_OTHER, "{}", chosen.body);
    let consent = browser.get(&format!("{base}/link/session"), Some(&cookie)).await;
    assert!(consent.body.contains("wants to link your Sandbox Books account"), "{}", consent.body);
    let handed =
        browser.post(&base, &format!("{base}/link/session/consent"), Some(&cookie), &[("csrf", &consent.csrf())]).await;
    assert_eq!(handed.status, StatusCode::SEE_OTHER, "{}", handed.body);
    let sign_in = handed.location.expect("to the sandbox");
    assert!(sign_in.starts_with(&format!("{sandbox_origin}/sign-in?session=")), "{sign_in}");
    let reference = query_param(&sign_in, "session").expect("reference");
    assert!(reference.starts_with("lsr_"), "{reference}");
    secrets.push(reference.clone());

    let form = browser.get(&sign_in, None).await;
    assert_eq!(form.status, StatusCode::OK, "{}", form.body);
    assert!(form.body.contains("Sandbox Books"), "{}", form.body);
    let post_sign_in = format!("{sandbox_origin}/sign-in");
    let wrong = browser
        .post(
            &sandbox_origin,
            &post_sign_in,
            None,
            &[("session", &reference), ("username", "user_otp"), ("password", "nope")],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.body.contains("Wrong username or password"), "{}", wrong.body);
    let otp = browser
        .post(
            &sandbox_origin,
            &post_sign_in,
            None,
            &[("session", &reference), ("username", "user_otp"), ("password", "pass_good")],
        )
        .await;
    assert_eq!(otp.status, StatusCode::OK, "{}", otp.body);
    assert!(otp.body.contains("name=\"code\""), "the code form: {}", otp.body);
    let done = browser.post(&sandbox_origin, &post_sign_in, None, &[("session", &reference), ("code", "123456")]).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    let back = done.location.expect("back to tessera");
    assert!(back.starts_with(&format!("{base}/link/return?session=")), "{back}");
    let result = browser.get(&back, Some(&cookie)).await;
    assert_eq!(result.status, StatusCode::OK, "{}", result.body);
    assert!(result.body.contains("Your Sandbox Books account is linked"), "{}", result.body);
    // The return spends the reference: the same return again, even with the old cookie put
    // back, is refused and leads nowhere.
    let replayed = browser.get(&back, Some(&cookie)).await;
    assert_eq!(replayed.status, StatusCode::GONE, "{}", replayed.body);
    assert!(!replayed.body.contains("subtotal_link_result=success"), "{}", replayed.body);
    // A form sent after the browser dropped the cookie (the session's end) says it ended.
    let dropped = browser.post(&base, &format!("{base}/link/session/consent"), None, &[("csrf", "x")]).await;
    assert_eq!(dropped.status, StatusCode::GONE, "{}", dropped.body);
    assert!(dropped.body.contains("ended or expired"), "{}", dropped.body);
    let to_app = return_link(&result.body);
    assert!(to_app.starts_with(REDIRECT), "{to_app}");
    assert_eq!(query_param(&to_app, "subtotal_link_result").as_deref(), Some("success"), "{to_app}");
    let connection_id = query_param(&to_app, "connection_id").expect("connection_id");

    let (status, listed) = api(&http, "GET", &format!("{base}/connections?customer_id=cust-1"), &key, None).await;
    assert_eq!(status, 200, "{listed}");
    let conns = listed["connections"].as_array().expect("connections");
    let conn = conns.iter().find(|c| c["connection_id"] == connection_id.as_str()).expect("the linked connection");
    assert_eq!(conn["status"], "active", "{conn}");
    assert_eq!(conn["retailer_id"], "sandbox-books", "{conn}");

    let (status, minted) = api(
        &http,
        "POST",
        &format!("{base}/connections/{connection_id}/token"),
        &key,
        Some(json!({"scope": "access"})),
    )
    .await;
    assert_eq!(status, 201, "{minted}");
    let access = minted["connection_token"].as_str().expect("connection_token").to_owned();
    let until = Instant::now() + Duration::from_secs(5);
    let purchases = loop {
        let r = http
            .get(format!("{base}/connections/{connection_id}/purchases"))
            .header("x-api-key", &key)
            .bearer_auth(&access)
            .send()
            .await
            .expect("answered");
        assert_eq!(r.status(), 200);
        let body: Value = r.json().await.expect("json");
        let list = body["purchases"].as_array().cloned().unwrap_or_default();
        if !list.is_empty() {
            break list;
        }
        assert!(Instant::now() < until, "the sandbox's purchases never arrived: {body}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(purchases.len(), 3, "the sandbox writes three purchases: {purchases:?}");

    // 2. The reference is spent: at the sandbox, and at tessera's connector API.
    let replay = browser.get(&sign_in, None).await;
    assert!(matches!(replay.status.as_u16(), 404 | 410), "{}: {}", replay.status, replay.body);
    assert!(replay.body.contains("expired or was already used"), "{}", replay.body);
    let (status, body) =
        api(&http, "GET", &format!("{base}/connector/link-sessions/{reference}"), &credential, None).await;
    assert_eq!(status, 404, "{body}");

    // 3. A redirect URL the client never registered: refused, and sent nowhere.
    let lt3 = link_token("cust-3").await;
    secrets.push(lt3.clone());
    let evil = browser.get(&format!("{base}/link/{lt3}?redirect_url=https%3A%2F%2Fevil.example%2F"), None).await;
    assert_eq!(evil.status, StatusCode::BAD_REQUEST, "{}", evil.body);
    assert_eq!(evil.location, None);
    assert!(!evil.body.contains("evil.example"), "no way to the unregistered URL: {}", evil.body);

    // 4. A revoked link token: no new session, and a running one stops at its next step.
    let lt4 = link_token("cust-4").await;
    secrets.push(lt4.clone());
    let started = browser.get(&entry(&lt4), None).await;
    assert_eq!(started.status, StatusCode::SEE_OTHER, "{}", started.body);
    let running = started.cookie.expect("cookie");
    let before = browser.get(&format!("{base}/link/session"), Some(&running)).await;
    assert_eq!(before.status, StatusCode::OK);
    let csrf4 = before.csrf();
    let r = http.delete(format!("{base}/link-tokens/{lt4}")).header("x-api-key", &key).send().await.expect("sent");
    assert_eq!(r.status(), 204);
    let again = browser.get(&entry(&lt4), None).await;
    assert_eq!(again.status, StatusCode::GONE, "{}", again.body);
    assert_eq!(again.cookie, None);
    let next = browser
        .post(
            &base,
            &format!("{base}/link/session/retailer"),
            Some(&running),
            &[("csrf", &csrf4), ("retailer_id", "sandbox-books")],
        )
        .await;
    assert_eq!(next.status, StatusCode::GONE, "{}", next.body);
    let page = browser.get(&format!("{base}/link/session"), Some(&running)).await;
    assert_eq!(page.status, StatusCode::GONE, "{}", page.body);

    // 5. The customer leaves: back to the app with subtotal_link_result=exit.
    let lt5 = link_token("cust-5").await;
    secrets.push(lt5.clone());
    let started = browser.get(&entry(&lt5), None).await;
    let leaving = started.cookie.expect("cookie");
    let shown = browser.get(&format!("{base}/link/session"), Some(&leaving)).await;
    let exit =
        browser.post(&base, &format!("{base}/link/session/exit"), Some(&leaving), &[("csrf", &shown.csrf())]).await;
    assert_eq!(exit.status, StatusCode::SEE_OTHER, "{}", exit.body);
    let location = exit.location.expect("Location");
    assert!(location.starts_with(REDIRECT), "{location}");
    assert_eq!(query_param(&location, "subtotal_link_result").as_deref(), Some("exit"), "{location}");

    // Neither process printed a link token or a session reference.
    tokio::time::sleep(Duration::from_millis(300)).await;
    for (name, proc) in [("tessera serve", &tessera), ("tessera sandbox", &sandbox)] {
        let out = proc.output();
        assert!(!out.is_empty(), "{name} logged");
        if name == "tessera serve" {
            // The verbose levels were let through (its most verbose lines are DEBUG).
            assert!(out.contains(" DEBUG "), "{name} logged at debug level");
        }
        assert!(!out.contains("lsr_") && !out.contains("lt_v1_"), "{name} printed a secret:\n{out}");
        for s in &secrets {
            assert!(!out.contains(s.as_str()), "{name} printed {s}");
        }
    }
    drop(sandbox);
    drop(tessera);
}

/// `serve --sandbox` starts the sandbox beside the server with a credential of its own, and
/// an account links through it with no other command; a second start replaces the
/// credential, and the sandbox stops with the server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_with_the_sandbox_beside_it_links_an_account() {
    let db = TestDb::new(Backend::Sqlite).await.expect("sqlite");
    let start = |db: &TestDb| {
        let mut cmd = Command::new(BIN);
        cmd.args(["serve", "--sandbox", "--bind", "127.0.0.1:0"])
            .env_remove("TESSERA_KEK")
            .env_remove("TESSERA_PUBLIC_URL")
            .env_remove("TESSERA_SANDBOX_PUBLIC_URL")
            .env("TESSERA_SANDBOX_LISTEN", "127.0.0.1:0")
            .envs(db.env())
            .env("TESSERA_DB_TIMEOUT", TEST_DB_TIMEOUT);
        let (proc, line) =
            Proc::spawn(cmd, "tessera serve --sandbox", |l| l.starts_with("tessera sandbox: sign-in page "));
        let sign_in = between(&line, "sign-in page ", " ").expect("sign-in URL");
        let base = between(&line, "(tessera ", ")").expect("tessera's URL");
        (proc, base, sign_in)
    };
    let (tessera, base, sign_in_page) = start(&db);
    let sandbox_origin = sign_in_page.strip_suffix("/sign-in").expect("ends in /sign-in").to_owned();
    let key = tessera
        .output()
        .lines()
        .find_map(crate::support::server::first_key_in)
        .expect("the bootstrap API key was written");
    let http = reqwest::Client::new();
    let browser = Browser::new();
    let (status, body) =
        api(&http, "POST", &format!("{base}/link-tokens"), &key, Some(json!({"customer_id": "cust-beside"}))).await;
    assert_eq!(status, 201, "{body}");
    let lt = body["link_token"].as_str().expect("link_token").to_owned();
    let start_page = browser.get(&format!("{base}/link/{lt}?retailer_id=sandbox-grocer"), None).await;
    assert_eq!(start_page.status, StatusCode::SEE_OTHER, "{}", start_page.body);
    let cookie = start_page.cookie.expect("the session cookie");
    let consent = browser.get(&format!("{base}/link/session"), Some(&cookie)).await;
    assert!(consent.body.contains("Sandbox Grocer"), "the retailer is known: {}", consent.body);
    let handed =
        browser.post(&base, &format!("{base}/link/session/consent"), Some(&cookie), &[("csrf", &consent.csrf())]).await;
    let sign_in = handed.location.expect("to the sandbox");
    assert!(sign_in.starts_with(&format!("{sign_in_page}?session=")), "{sign_in}");
    let reference = query_param(&sign_in, "session").expect("reference");
    let done = browser
        .post(
            &sandbox_origin,
            &sign_in_page,
            None,
            &[("session", &reference), ("username", "user_good"), ("password", "pass_good")],
        )
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    let result = browser.get(&done.location.expect("back to tessera"), Some(&cookie)).await;
    assert!(result.body.contains("Your Sandbox Grocer account is linked"), "{}", result.body);
    let (status, listed) = api(&http, "GET", &format!("{base}/connections?customer_id=cust-beside"), &key, None).await;
    assert_eq!(status, 200, "{listed}");
    assert_eq!(listed["connections"][0]["status"], "active", "{listed}");

    // The server stops (SIGTERM, as a supervisor stops it): so does the sandbox.
    let status = Command::new("kill").args(["-TERM", &tessera.child.id().to_string()]).status().expect("kill");
    assert!(status.success());
    let until = Instant::now() + Duration::from_secs(10);
    while reqwest::get(&sign_in_page).await.is_ok() {
        assert!(Instant::now() < until, "the sandbox still serves after the server stopped");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(tessera);

    // A second start makes a new credential and revokes the first.
    let (again, _, _) = start(&db);
    drop(again);
    let listed = crate::support::server::cli_json(&db, &["connector", "list", "--json"]);
    let beside: Vec<&Value> =
        listed.as_array().expect("a list").iter().filter(|c| c["name"] == "sandbox (serve --sandbox)").collect();
    assert_eq!(beside.len(), 2, "{listed}");
    assert_eq!(beside.iter().filter(|c| c["revoked_at"].is_null()).count(), 1, "{listed}");
}
