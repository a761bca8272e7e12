//! Webhook deliveries end to end, between real processes: the `tessera serve` binary and the
//! manual's receivers (`examples/webhooks/receiver.py` and `receiver.mjs`), which verify every
//! signature and log every request they get. Faults are real too: a receiver that is not
//! listening yet, one that answers 500, hangs or resets the connection, a tessera process
//! SIGKILLed with deliveries outstanding, and one of two replicas SIGKILLed mid-delivery.
//! Delivery is at least once: the fault tests print how many events arrived more than once.
use std::collections::{HashMap, HashSet};
use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::server::{Server, cli_json, start_with};
use crate::support::{Backend, TestDb};
use serde_json::{Value, json};
use sqlx::Connection as _;

const LIFECYCLE: [(&str, &str); 6] = [
    ("connection.created", "initialized"),
    ("connection.activated", "active"),
    ("connection.unauthenticated", "unauthenticated"),
    ("connection.activated", "active"),
    ("connection.disconnected", "disconnected"),
    // A deletion announces the connection as it stood before it.
    ("connection.deleted", "disconnected"),
];

const ALL_TYPES: [&str; 5] = [
    "connection.created",
    "connection.activated",
    "connection.unauthenticated",
    "connection.disconnected",
    "connection.deleted",
];

/// Flags for a tessera that delivers to a receiver on loopback, retrying quickly.
const LOCAL: [&str; 6] =
    ["--webhook-allow-private", "--webhook-allow-http", "--webhook-retry-base", "1", "--webhook-timeout", "2"];

/// A deadline for polling; `check` fails the test, saying what never happened.
struct Deadline {
    until: Instant,
    what: String,
}

impl Deadline {
    fn new(secs: u64, what: impl Into<String>) -> Self {
        Self { until: Instant::now() + Duration::from_secs(secs), what: what.into() }
    }

    async fn tick(&self, state: impl std::fmt::Display) {
        assert!(Instant::now() < self.until, "timed out waiting for {}; last seen: {state}", self.what);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A port nothing listens on now (bound, then closed: its number is kept to listen on later).
fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

#[derive(Clone, Copy, Debug)]
enum Lang {
    Python,
    Node,
}

/// A receiver process; killed when dropped.
struct Receiver {
    child: Child,
    port: u16,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A receiver's directory: the secret it verifies with, its mode, and the log of every
/// request it got (`events.jsonl`).
struct Inbox {
    dir: tempfile::TempDir,
}

impl Inbox {
    fn new() -> Self {
        Self { dir: tempfile::tempdir().expect("tempdir") }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn set_secret(&self, secret: &str) {
        std::fs::write(self.path("secret"), format!("{secret}\n")).expect("write secret");
    }

    fn set_mode(&self, mode: &str) {
        std::fs::write(self.path("mode"), mode).expect("write mode");
    }

    /// Starts a receiver on `port` (0: any), logging here.
    fn start(&self, lang: Lang, port: u16) -> Receiver {
        let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/webhooks");
        let (program, script) = match lang {
            Lang::Python => ("python3", examples.join("receiver.py")),
            Lang::Node => ("node", examples.join("receiver.mjs")),
        };
        let mut child = Command::new(program)
            .arg(script)
            .arg(port.to_string())
            .env("RECEIVER_DIR", self.dir.path())
            .env_remove("WEBHOOK_SECRET")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{program} starts: {e}"));
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let first = lines.next().and_then(Result::ok).unwrap_or_default();
        let port = first
            .strip_prefix("listening on ")
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or_else(|| panic!("the {lang:?} receiver did not start: {first:?}"));
        // It prints each verified event: keep reading, so it never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        Receiver { child, port }
    }

    /// Every request the receiver logged, in arrival order (a line being written is skipped).
    fn requests(&self) -> Vec<Value> {
        let text = std::fs::read_to_string(self.path("events.jsonl")).unwrap_or_default();
        text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
    }

    /// The events the receiver accepted (verified, answered in `ok` mode), in arrival order.
    fn delivered(&self) -> Vec<Value> {
        self.requests()
            .into_iter()
            .filter(|r| r["mode"] == "ok" && r["verified"] == true)
            .map(|r| r["event"].clone())
            .collect()
    }

    fn count_mode(&self, mode: &str) -> usize {
        self.requests().iter().filter(|r| r["mode"] == mode).count()
    }
}

/// A client of tessera's HTTP API with one credential.
#[derive(Clone)]
struct Api {
    http: reqwest::Client,
    base: String,
    key: String,
}

impl Api {
    fn new(base: &str, key: &str) -> Self {
        // Bounded, so a request that never answers fails the test instead of hanging it.
        let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().expect("client");
        Self { http, base: base.to_owned(), key: key.to_owned() }
    }

    fn at(&self, base: &str) -> Self {
        Self { base: base.to_owned(), ..self.clone() }
    }

    async fn send(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self
            .http
            .request(method.parse().expect("method"), format!("{}{path}", self.base))
            .header("x-api-key", &self.key);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap_or_else(|e| panic!("{method} {path}: tessera did not answer: {e}"));
        let status = r.status().as_u16();
        let text = r.text().await.expect("body");
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// Registers an active webhook for every event type; its id and signing secret.
    async fn register(&self, url: &str) -> (String, String) {
        let (status, body) = self
            .send(
                "POST",
                "/webhooks",
                Some(json!({"name": "test", "url": url, "event_types": ALL_TYPES, "is_active": true})),
            )
            .await;
        assert_eq!(status, 201, "registering {url}: {body}");
        let id = body["webhook_id"].as_str().expect("webhook_id").to_owned();
        let secret = body["signing_secret"].as_str().expect("signing_secret").to_owned();
        (id, secret)
    }

    /// The whole delivery log of a webhook, every page.
    async fn deliveries(&self, webhook: &str) -> Vec<Value> {
        let mut all = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut path = format!("/webhooks/{webhook}/deliveries?limit=100");
            if let Some(c) = &cursor {
                path.push_str(&format!("&starting_after={c}"));
            }
            let (status, page) = self.send("GET", &path, None).await;
            assert_eq!(status, 200, "{path}: {page}");
            all.extend(page["deliveries"].as_array().expect("deliveries").iter().cloned());
            if page["has_more"] != true {
                return all;
            }
            cursor = Some(page["next_cursor"].as_str().expect("next_cursor").to_owned());
        }
    }

    async fn create_connection(&self, customer: &str) -> String {
        let body = json!({"customer_id": customer, "retailer_id": "walmart", "email": format!("{customer}@example.com"), "mobile": "+15550100"});
        let (status, answer) = self.send("POST", "/connections", Some(body)).await;
        assert_eq!(status, 201, "{answer}");
        answer["connection_id"].as_str().expect("connection_id").to_owned()
    }

    /// As the connector: moves a connection to `status`.
    async fn report(&self, connector: &str, conn: &str, status: &str) {
        let r = self
            .http
            .put(format!("{}/connector/connections/{conn}/status", self.base))
            .header("x-api-key", connector)
            .json(&json!({"status": status, "reason": "test"}))
            .send()
            .await
            .unwrap_or_else(|e| panic!("connector status {status}: tessera did not answer: {e}"));
        let code = r.status().as_u16();
        assert_eq!(code, 200, "moving {conn} to {status}: {}", r.text().await.unwrap_or_default());
    }

    async fn delete_connection(&self, conn: &str) {
        let (status, body) = self.send("DELETE", &format!("/connections/{conn}"), None).await;
        assert_eq!(status, 204, "{body}");
    }

    /// Runs the whole lifecycle of a new connection; its id.
    async fn lifecycle(&self, connector: &str, customer: &str) -> String {
        let conn = self.create_connection(customer).await;
        for status in ["active", "unauthenticated", "active", "disconnected"] {
            self.report(connector, &conn, status).await;
        }
        self.delete_connection(&conn).await;
        conn
    }
}

fn connector_credential(db: &TestDb) -> String {
    let c = cli_json(db, &["connector", "create", "--name", "connector", "--json"]);
    c["credential"].as_str().expect("credential").to_owned()
}

fn serve(db: &TestDb, extra: &[&str]) -> Server {
    start_with(db, extra, &[], Stdio::inherit())
}

fn conn_of(event: &Value) -> &str {
    event["payload"]["connection"]["connection_id"].as_str().expect("payload.connection.connection_id")
}

/// How many event ids arrived more than once, counting each extra arrival.
fn duplicates(delivered: &[Value]) -> usize {
    let unique: HashSet<&str> = delivered.iter().map(|e| e["id"].as_str().expect("id")).collect();
    delivered.len() - unique.len()
}

/// Each event's first arrival, in arrival order.
fn first_arrivals(delivered: &[Value]) -> Vec<Value> {
    let mut seen = HashSet::new();
    delivered.iter().filter(|e| seen.insert(e["id"].as_str().expect("id").to_owned())).cloned().collect()
}

/// Waits until every delivery in the log is delivered and the receiver accepted each of its
/// events; the log.
async fn await_all_delivered(api: &Api, webhook: &str, inbox: &Inbox, expected: usize, secs: u64) -> Vec<Value> {
    let deadline = Deadline::new(secs, format!("{expected} events delivered and received"));
    loop {
        let log = api.deliveries(webhook).await;
        let received: HashSet<String> =
            inbox.delivered().iter().map(|e| e["id"].as_str().expect("id").to_owned()).collect();
        let done = log.iter().filter(|d| !d["delivered_at"].is_null()).count();
        let arrived = log.iter().filter(|d| received.contains(d["event_id"].as_str().expect("event_id"))).count();
        if log.len() == expected && done == expected && arrived == expected {
            return log;
        }
        let failed = log.iter().filter(|d| !d["failed_at"].is_null()).count();
        assert_eq!(failed, 0, "a delivery was given up: {log:#?}");
        deadline.tick(format!("{} in the log, {done} delivered, {arrived} received", log.len())).await;
    }
}

/// The received events and the delivery log agree: the same ids, each with the type and
/// connection it was written with, each verified; and per connection the first arrivals come
/// in the order the events were written (`order`: connection -> types in order).
fn assert_matches_log(inbox: &Inbox, log: &[Value], order: &HashMap<String, Vec<&str>>) {
    let requests = inbox.requests();
    assert!(
        requests.iter().filter(|r| r["mode"] == "ok").all(|r| r["verified"] == true),
        "every request the receiver answered was signed with the webhook's secret: {requests:#?}"
    );
    let delivered = inbox.delivered();
    let firsts = first_arrivals(&delivered);
    let written: HashMap<&str, &Value> = log.iter().map(|d| (d["event_id"].as_str().expect("event_id"), d)).collect();
    assert_eq!(firsts.len(), written.len(), "one arrival per event written");
    for e in &firsts {
        let id = e["id"].as_str().expect("id");
        let d = written.get(id).unwrap_or_else(|| panic!("event {id} arrived but was never written: {e}"));
        assert_eq!(e["type"], d["type"], "event {id} arrived with the type it was written with");
        assert_eq!(conn_of(e), d["connection_id"], "event {id} names the connection it was written for");
    }
    // Every extra arrival is a repeat of an event written, byte for byte in what it says.
    let by_id: HashMap<&str, &Value> = firsts.iter().map(|e| (e["id"].as_str().expect("id"), e)).collect();
    for e in &delivered {
        assert_eq!(Some(&e), by_id.get(e["id"].as_str().expect("id")), "a repeat says what the first arrival said");
    }
    for (conn, types) in order {
        let got: Vec<&str> =
            firsts.iter().filter(|e| conn_of(e) == conn).map(|e| e["type"].as_str().expect("type")).collect();
        assert_eq!(&got, types, "the events of {conn} arrived in the order they happened");
    }
}

// The whole lifecycle, signed and in order.

async fn the_whole_lifecycle_arrives_signed_and_in_order(db: TestDb) {
    lifecycle_with(db, Lang::Python).await;
}

async fn lifecycle_with(db: TestDb, lang: Lang) {
    let inbox = Inbox::new();
    let receiver = inbox.start(lang, 0);
    let server = serve(&db, &LOCAL);
    let api = Api::new(&server.base, server.bootstrap_key.as_deref().expect("bootstrap key"));
    let connector = connector_credential(&db);
    let (webhook, secret) = api.register(&format!("http://127.0.0.1:{}/hook", receiver.port)).await;
    inbox.set_secret(&secret);

    let conn = api.lifecycle(&connector, "cust-life").await;
    let log = await_all_delivered(&api, &webhook, &inbox, LIFECYCLE.len(), 60).await;

    let delivered = inbox.delivered();
    assert_eq!(delivered.len(), LIFECYCLE.len(), "each event once, with a receiver up all along: {delivered:#?}");
    for (event, (kind, status)) in delivered.iter().zip(LIFECYCLE) {
        assert_eq!(event["type"], kind, "{event}");
        assert_eq!(
            event["payload"]["connection"],
            json!({
                "connection_id": conn, "customer_id": "cust-life", "retailer_id": "walmart",
                "email": "cust-life@example.com", "mobile": "+15550100", "status": status,
            }),
            "{kind}"
        );
    }
    let ids: HashSet<&str> = delivered.iter().map(|e| e["id"].as_str().expect("id")).collect();
    assert_eq!(ids.len(), LIFECYCLE.len(), "every event has an id of its own");
    let order = HashMap::from([(conn.clone(), LIFECYCLE.iter().map(|(k, _)| *k).collect())]);
    assert_matches_log(&inbox, &log, &order);
    for d in &log {
        assert_eq!(d["attempts"], 1, "delivered at the first attempt: {d}");
        assert_eq!(d["last_status"], 204, "{d}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_lifecycle_arrives_at_the_node_receiver() {
    if std::process::Command::new("node").arg("--version").output().is_err() {
        assert!(!crate::support::must_run_everything(), "Node is missing and CI is set: failing rather than skipping");
        eprintln!("SKIPPED: Node is not installed; the Node receiver was not run");
        return;
    }
    let db = TestDb::new(Backend::Sqlite).await.expect("sqlite");
    lifecycle_with(db, Lang::Node).await;
}

// A receiver that is down for a while.

async fn events_wait_for_a_receiver_that_comes_up_later(db: TestDb) {
    let inbox = Inbox::new();
    let port = free_port();
    let server = serve(&db, &LOCAL);
    let api = Api::new(&server.base, server.bootstrap_key.as_deref().expect("bootstrap key"));
    let connector = connector_credential(&db);
    let (webhook, secret) = api.register(&format!("http://127.0.0.1:{port}/hook")).await;
    inbox.set_secret(&secret);

    let mut order = HashMap::new();
    for i in 0..3 {
        let conn = api.lifecycle(&connector, &format!("cust-down-{i}")).await;
        order.insert(conn, LIFECYCLE.iter().map(|(k, _)| *k).collect::<Vec<_>>());
    }
    let expected = order.len() * LIFECYCLE.len();

    // Nothing listens: attempts fail and are retried.
    let deadline = Deadline::new(30, "failed attempts against the closed port");
    loop {
        let log = api.deliveries(&webhook).await;
        let failing = log.iter().filter(|d| d["attempts"].as_i64() >= Some(2) && !d["last_error"].is_null()).count();
        if failing > 0 {
            assert!(log.iter().all(|d| d["delivered_at"].is_null()), "nothing can be delivered yet: {log:#?}");
            break;
        }
        deadline.tick(format!("{log:?}")).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;

    let receiver = inbox.start(Lang::Python, port);
    assert_eq!(receiver.port, port);
    let log = await_all_delivered(&api, &webhook, &inbox, expected, 60).await;
    assert_matches_log(&inbox, &log, &order);
    assert!(log.iter().any(|d| d["attempts"].as_i64() > Some(1)), "some were retried: {log:#?}");
    eprintln!("receiver down then up: {expected} events, {} duplicates", duplicates(&inbox.delivered()));
}

// A receiver that answers 500, then hangs, then resets connections, then answers.

async fn a_failing_receiver_gets_everything_once_it_answers(db: TestDb) {
    let inbox = Inbox::new();
    inbox.set_mode("500");
    let receiver = inbox.start(Lang::Python, 0);
    let server = serve(&db, &LOCAL);
    let api = Api::new(&server.base, server.bootstrap_key.as_deref().expect("bootstrap key"));
    let connector = connector_credential(&db);
    let (webhook, secret) = api.register(&format!("http://127.0.0.1:{}/hook", receiver.port)).await;
    inbox.set_secret(&secret);

    let mut order: HashMap<String, Vec<&str>> = HashMap::new();
    let mut conns = Vec::new();
    for i in 0..3 {
        let conn = api.create_connection(&format!("cust-fail-{i}")).await;
        api.report(&connector, &conn, "active").await;
        order.insert(conn.clone(), vec!["connection.created", "connection.activated"]);
        conns.push(conn);
    }

    // Each fault in turn, until the receiver has seen an attempt under it and the log shows
    // its error; the API answers all the while.
    let mut errors: HashMap<&str, String> = HashMap::new();
    let mut api_requests = 0;
    // What the log says for each (any of): the status, the attempt timing out, the connection
    // reset (or closed, should the reset reach tessera as an end of stream).
    let faults: [(&str, &[&str]); 3] =
        [("500", &["answered 500"]), ("hang", &["timed out"]), ("reset", &["reset", "closed before"])];
    for (mode, error) in faults {
        inbox.set_mode(mode);
        let seen_before = inbox.count_mode(mode);
        let deadline = Deadline::new(60, format!("an attempt under mode {mode} and its error in the log"));
        loop {
            // The API is not held up by the receiver's trouble.
            for conn in &conns {
                let (status, body) = api.send("GET", &format!("/connections/{conn}"), None).await;
                assert_eq!(status, 200, "{body}");
                let (status, body) =
                    api.send("POST", &format!("/connections/{conn}/token"), Some(json!({"scope": "access"}))).await;
                assert_eq!(status, 201, "{body}");
                api_requests += 2;
            }
            let log = api.deliveries(&webhook).await;
            let attempted = inbox.count_mode(mode) > seen_before;
            let last_error =
                log.iter().filter_map(|d| d["last_error"].as_str()).find(|e| error.iter().any(|want| e.contains(want)));
            if let (true, Some(e)) = (attempted, last_error) {
                errors.insert(mode, e.to_owned());
                assert!(log.iter().all(|d| d["delivered_at"].is_null()), "nothing is delivered yet: {log:#?}");
                break;
            }
            deadline.tick(format!("{log:?}")).await;
        }
    }
    // More events while the receiver still resets: they queue behind the failing ones.
    for conn in &conns {
        api.report(&connector, conn, "disconnected").await;
        order.get_mut(conn).expect("conn").push("connection.disconnected");
    }
    inbox.set_mode("ok");
    let expected = conns.len() * 3;
    let log = await_all_delivered(&api, &webhook, &inbox, expected, 90).await;
    assert_matches_log(&inbox, &log, &order);
    let retried = log.iter().filter(|d| d["attempts"].as_i64() > Some(1)).count();
    assert!(retried > 0, "some deliveries took more than one attempt: {log:#?}");
    for d in &log {
        assert!(d["last_error"].is_null(), "a delivered event has no error left: {d}");
        assert_eq!(d["last_status"], 204, "{d}");
    }
    eprintln!(
        "faulty receiver: {api_requests} API requests answered during the outage; errors seen: {errors:?}; \
         {retried} of {expected} deliveries retried; {} duplicates",
        duplicates(&inbox.delivered())
    );
}

// tessera SIGKILLed with deliveries outstanding.

async fn deliveries_outstanding_at_a_sigkill_are_made_after_a_restart(db: TestDb) {
    let inbox = Inbox::new();
    let port = free_port();
    let mut server = serve(&db, &LOCAL);
    let key = server.bootstrap_key.clone().expect("bootstrap key");
    let api = Api::new(&server.base, &key);
    let connector = connector_credential(&db);
    let (webhook, secret) = api.register(&format!("http://127.0.0.1:{port}/hook")).await;
    inbox.set_secret(&secret);

    let mut order: HashMap<String, Vec<&str>> = HashMap::new();
    for i in 0..5 {
        let conn = api.create_connection(&format!("cust-kill-{i}")).await;
        api.report(&connector, &conn, "active").await;
        api.report(&connector, &conn, "disconnected").await;
        order.insert(conn, vec!["connection.created", "connection.activated", "connection.disconnected"]);
    }
    let expected = order.len() * 3;
    let deadline = Deadline::new(30, "failed attempts before the kill");
    loop {
        let log = api.deliveries(&webhook).await;
        if log.iter().any(|d| d["attempts"].as_i64() >= Some(2)) {
            break;
        }
        deadline.tick(format!("{log:?}")).await;
    }
    server.child.kill().expect("SIGKILL");
    server.child.wait().expect("reaped");
    drop(server);

    let restarted = serve(&db, &LOCAL);
    let api = api.at(&restarted.base);
    let _receiver = inbox.start(Lang::Python, port);
    let log = await_all_delivered(&api, &webhook, &inbox, expected, 90).await;
    assert_matches_log(&inbox, &log, &order);
    eprintln!(
        "SIGKILL with the receiver down ({:?}): {expected} events, {} duplicates",
        db.backend,
        duplicates(&inbox.delivered())
    );
}

// The retry window.

async fn an_endpoint_failing_for_its_whole_retry_window_is_given_up_and_turned_off(db: TestDb) {
    let inbox = Inbox::new();
    inbox.set_mode("500");
    let receiver = inbox.start(Lang::Python, 0);
    let mut flags = LOCAL.to_vec();
    flags.extend(["--webhook-retry-window", "10"]);
    let server = serve(&db, &flags);
    let api = Api::new(&server.base, server.bootstrap_key.as_deref().expect("bootstrap key"));
    let (webhook, secret) = api.register(&format!("http://127.0.0.1:{}/hook", receiver.port)).await;
    inbox.set_secret(&secret);
    api.create_connection("cust-window").await;

    let deadline = Deadline::new(60, "the delivery given up");
    let given_up = loop {
        let log = api.deliveries(&webhook).await;
        assert_eq!(log.len(), 1, "{log:#?}");
        if !log[0]["failed_at"].is_null() {
            break log[0].clone();
        }
        deadline.tick(&log[0]).await;
    };
    assert!(given_up["delivered_at"].is_null(), "{given_up}");
    assert!(given_up["next_attempt_at"].is_null(), "no attempt is planned: {given_up}");
    assert!(given_up["attempts"].as_i64() >= Some(2), "retried within the window first: {given_up}");
    assert_eq!(given_up["last_status"], 500, "{given_up}");
    assert!(given_up["failed_at"].as_i64() <= Some(given_up["created_at"].as_i64().expect("created_at") + 10 + 5));
    let attempts = inbox.count_mode("500");
    assert_eq!(i64::try_from(attempts).ok(), given_up["attempts"].as_i64(), "the receiver saw every attempt");

    let (status, hook) = api.send("GET", &format!("/webhooks/{webhook}"), None).await;
    assert_eq!(status, 200, "{hook}");
    assert_eq!(hook["is_active"], false, "the endpoint is turned off: {hook}");
    let reason = hook["disabled_reason"].as_str().unwrap_or_else(|| panic!("a disabled_reason: {hook}"));
    assert!(reason.contains("answered 500"), "the reason names the last error: {reason}");

    // Turned off, it is sent nothing more.
    api.create_connection("cust-after").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(api.deliveries(&webhook).await.len(), 1, "no delivery is queued for an endpoint turned off");
    assert_eq!(inbox.count_mode("500"), attempts, "nothing more was sent");
}

both_backends!(
    the_whole_lifecycle_arrives_signed_and_in_order,
    events_wait_for_a_receiver_that_comes_up_later,
    a_failing_receiver_gets_everything_once_it_answers,
    deliveries_outstanding_at_a_sigkill_are_made_after_a_restart,
    an_endpoint_failing_for_its_whole_retry_window_is_given_up_and_turned_off,
    purchase_created_arrives_once_per_new_purchase,
);

// Two replicas on one PostgreSQL, one SIGKILLed mid-delivery.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_deliver_everything_when_one_is_sigkilled_mid_delivery() {
    let Some(db) = TestDb::new(Backend::Postgres).await else { return };
    let inbox = Inbox::new();
    let receiver = inbox.start(Lang::Python, 0);
    let mut a = serve(&db, &LOCAL);
    let b = serve(&db, &LOCAL);
    let key = a.bootstrap_key.clone().or_else(|| b.bootstrap_key.clone()).expect("one of them bootstrapped");
    let api_a = Api::new(&a.base, &key);
    let api_b = api_a.at(&b.base);
    let connector = connector_credential(&db);
    let (webhook, secret) = api_b.register(&format!("http://127.0.0.1:{}/hook", receiver.port)).await;
    inbox.set_secret(&secret);

    const CONNECTIONS: usize = 40;
    const STEPS: [&str; 3] = ["active", "unauthenticated", "disconnected"];
    // The first quarter goes through A, the rest through B, concurrently; A is killed while
    // the receiver is getting events, with more still being written through B.
    let produce = |api: Api, range: std::ops::Range<usize>| {
        let connector = connector.clone();
        tokio::spawn(async move {
            let mut made = Vec::new();
            for i in range {
                let conn = api.create_connection(&format!("cust-rep-{i}")).await;
                for step in STEPS {
                    api.report(&connector, &conn, step).await;
                }
                made.push(conn);
            }
            made
        })
    };
    let mut conns = produce(api_a.clone(), 0..CONNECTIONS / 4).await.expect("through A");
    let mut rest = Vec::new();
    for chunk in 0..3 {
        let lo = CONNECTIONS / 4 + chunk * CONNECTIONS / 4;
        rest.push(produce(api_b.clone(), lo..lo + CONNECTIONS / 4));
    }
    let deadline = Deadline::new(60, "deliveries under way before the kill");
    while inbox.delivered().len() < CONNECTIONS {
        deadline.tick(inbox.delivered().len()).await;
    }
    // Kill at a moment when deliveries are claimed (leased, outcome not yet recorded), so
    // that A most likely holds some of them.
    let mut pg = sqlx::PgConnection::connect(&db.url).await.expect("database");
    let claimed = "SELECT COUNT(*) FROM webhook_deliveries WHERE lease_until IS NOT NULL AND delivered_at IS NULL";
    let deadline = Deadline::new(30, "claimed deliveries");
    let leased = loop {
        let leased: i64 = sqlx::query_scalar(claimed).fetch_one(&mut pg).await.expect("count");
        if leased >= 2 {
            break leased;
        }
        assert!(Instant::now() < deadline.until, "timed out waiting for {}", deadline.what);
        tokio::time::sleep(Duration::from_millis(2)).await;
    };
    let at_kill = inbox.delivered().len();
    a.child.kill().expect("SIGKILL");
    a.child.wait().expect("reaped");
    for t in rest {
        conns.extend(t.await.expect("through B"));
    }
    assert_eq!(conns.len(), CONNECTIONS);

    let expected = CONNECTIONS * (1 + STEPS.len());
    let mut order: HashMap<String, Vec<&str>> = HashMap::new();
    for conn in &conns {
        order.insert(
            conn.clone(),
            vec!["connection.created", "connection.activated", "connection.unauthenticated", "connection.disconnected"],
        );
    }
    // A delivery A had claimed waits for its lease (timeout + 30 s) to run out.
    let log = await_all_delivered(&api_b, &webhook, &inbox, expected, 120).await;
    assert_matches_log(&inbox, &log, &order);
    let delivered = inbox.delivered();
    eprintln!(
        "two replicas, one SIGKILLed after {at_kill} arrivals with {leased} deliveries claimed: {expected} events, \
         {} arrivals, {} duplicates",
        delivered.len(),
        duplicates(&delivered)
    );
}

// SSRF at registration, with the default policy.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_and_plain_http_destinations_are_refused_by_default() {
    let db = TestDb::new(Backend::Sqlite).await.expect("sqlite");
    let server = serve(&db, &[]);
    let api = Api::new(&server.base, server.bootstrap_key.as_deref().expect("bootstrap key"));
    for (url, why) in [
        ("https://127.0.0.1/hook", "not a public address"),
        ("https://10.0.0.1/hook", "not a public address"),
        ("https://169.254.169.254/latest/meta-data", "not a public address"),
        ("https://[::1]:8443/hook", "not a public address"),
        ("https://[::ffff:127.0.0.1]/hook", "not a public address"),
        // IPv6 forms that embed a loopback or private IPv4 address.
        ("https://[::127.0.0.1]:8443/", "not a public address"),
        ("https://[2002:7f00:1::]:8443/", "not a public address"),
        ("https://[64:ff9b::a00:1]/hook", "not a public address"),
        ("https://[2001:0:4136:e378:8000:63bf:80ff:fffe]/hook", "not a public address"),
        ("https://localhost/hook", "not a public address"),
        ("https://localhost.:8443/hook", "localhost"),
        ("http://hooks.example.com/hook", "plain http"),
        ("http://127.0.0.1:9/hook", "plain http"),
    ] {
        let (status, body) = api
            .send(
                "POST",
                "/webhooks",
                Some(json!({"name": "x", "url": url, "event_types": ALL_TYPES, "is_active": true})),
            )
            .await;
        assert_eq!(status, 422, "{url} is refused: {body}");
        let detail = &body["detail"][0];
        assert_eq!(detail["loc"], json!(["body", "url"]), "{url}: {body}");
        assert_eq!(detail["input"], url, "{url}: {body}");
        let msg = detail["msg"].as_str().expect("msg");
        assert!(msg.contains(why), "{url}: {msg}");
        // The message names the setting that lifts the rule, for the operator.
        let flag = if why == "plain http" { "--webhook-allow-http" } else { "--webhook-allow-private" };
        assert!(why == "localhost" || msg.contains(flag), "{url}: {msg}");
    }
    let (status, list) = api.send("GET", "/webhooks", None).await;
    assert_eq!(status, 200);
    assert_eq!(list["webhooks"], json!([]), "nothing refused was registered");
}

// Purchases the connector writes.

/// Each purchase a connection did not have is announced once, signed, with the connection and
/// the purchase (money as the decimal text written); writing it again announces nothing.
async fn purchase_created_arrives_once_per_new_purchase(db: TestDb) {
    let inbox = Inbox::new();
    let receiver = inbox.start(Lang::Python, 0);
    let server = serve(&db, &LOCAL);
    let api = Api::new(&server.base, server.bootstrap_key.as_deref().expect("bootstrap key"));
    let connector = connector_credential(&db);
    let url = format!("http://127.0.0.1:{}/hook", receiver.port);
    let (status, hook) = api
        .send(
            "POST",
            "/webhooks",
            Some(json!({"name": "purchases", "url": url, "event_types": ["purchase.created"], "is_active": true})),
        )
        .await;
    assert_eq!(status, 201, "{hook}");
    let webhook = hook["webhook_id"].as_str().expect("webhook_id").to_owned();
    inbox.set_secret(hook["signing_secret"].as_str().expect("secret"));
    let conn = api.create_connection("cust-buys").await;
    api.report(&connector, &conn, "active").await;

    let write = async |ids: &[&str]| {
        let purchases: Vec<Value> = ids
            .iter()
            .map(|id| json!({"purchase_id": id, "date": "2025-05-01T12:00:00Z", "total": "10.000000000000000001"}))
            .collect();
        let r = api
            .http
            .put(format!("{}/connector/connections/{conn}/purchases", api.base))
            .header("x-api-key", &connector)
            .json(&json!({"purchases": purchases}))
            .send()
            .await
            .expect("sent");
        assert_eq!(r.status().as_u16(), 200);
        r.json::<Value>().await.expect("json")
    };
    assert_eq!(write(&["p-1", "p-2", "p-3"]).await["created"], json!(["p-1", "p-2", "p-3"]));
    assert_eq!(write(&["p-2", "p-3", "p-4"]).await["created"], json!(["p-4"]));
    assert_eq!(write(&["p-1", "p-4"]).await["created"], json!([]));

    let log = await_all_delivered(&api, &webhook, &inbox, 4, 60).await;
    assert!(log.iter().all(|d| d["type"] == "purchase.created"), "{log:#?}");
    let delivered = inbox.delivered();
    assert_eq!(delivered.len(), 4, "one event per new purchase, each once: {delivered:#?}");
    let mut announced: Vec<&str> =
        delivered.iter().map(|e| e["payload"]["purchase"]["purchase_id"].as_str().expect("purchase_id")).collect();
    announced.sort_unstable();
    assert_eq!(announced, ["p-1", "p-2", "p-3", "p-4"]);
    for e in &delivered {
        assert_eq!(e["type"], "purchase.created");
        assert_eq!(conn_of(e), conn);
        assert_eq!(e["payload"]["connection"]["status"], "active");
        let p = &e["payload"]["purchase"];
        assert_eq!(
            (p["date"].clone(), p["total"].clone(), p["item_count"].clone()),
            (json!("2025-05-01T12:00:00Z"), json!("10.000000000000000001"), json!(0))
        );
    }
    let order = HashMap::from([(conn.clone(), vec!["purchase.created"; 4])]);
    assert_matches_log(&inbox, &log, &order);
}
