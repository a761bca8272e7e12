//! The hosted Link pages and the connector's hand-off, over HTTP: whose link it is, a second
//! Link URL never replacing an open session, a connector reaching only the sessions handed to
//! it, the body deadline and the cap on unfinished bodies, NUL characters in every input,
//! only linkable retailers offered, error pages with a way on, and the request log's route.
//! (The flow in a real browser runs in tests/console/link_check.py.)
use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use tessera::auth::api_key::PlainApiKey;
use tessera::config::ServeConfig;
use tessera::domain::connector::ConnectorCredential;
use tessera::token::clock::SystemClock;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::api::helpers::TestApp;
use crate::support::{Backend, TestDb};

const NOT_AT_CONNECTOR: &str = "Link session not found or no longer at the connector";

fn browser() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client")
}

/// A connector credential, as `tessera connector create` makes one.
async fn connector(app: &TestApp, name: &str) -> String {
    let (id, credential) = PlainApiKey::generate_connector();
    let record =
        ConnectorCredential { id, name: name.into(), digest: credential.digest(), created_at: 1, revoked_at: None };
    app.store.create_connector(&record).await.expect("connector");
    credential.expose().to_owned()
}

/// Registers `credential`'s sign-in page for `retailers` (`None`: every retailer).
async fn sign_in_page(app: &TestApp, credential: &str, retailers: Option<&[&str]>) {
    let body = json!({"url": "https://connector.example/sign-in", "retailer_ids": retailers});
    let r = app.call("PUT", "/connector/link-url", credential, Some(body)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
}

async fn link_token(app: &TestApp, customer_id: &str, email: &str) -> String {
    let r =
        app.call("POST", "/link-tokens", &app.api_key, Some(json!({"customer_id": customer_id, "email": email}))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    r.body["link_token"].as_str().expect("a token").to_owned()
}

struct Page {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    body: String,
}

impl Page {
    fn cookie(&self) -> Option<String> {
        let set = self.headers.get("set-cookie")?.to_str().ok()?;
        let value = set.split(';').next()?.strip_prefix("tessera_link=")?;
        (!value.is_empty()).then(|| value.to_owned())
    }

    fn csrf(&self) -> String {
        let at = self.body.find("name=\"csrf\" value=\"").expect("a csrf field") + "name=\"csrf\" value=\"".len();
        self.body[at..].split('"').next().expect("value").to_owned()
    }

    fn location(&self) -> &str {
        self.headers.get("location").and_then(|v| v.to_str().ok()).unwrap_or_default()
    }
}

async fn page(req: reqwest::RequestBuilder) -> Page {
    let resp = req.send().await.expect("sent");
    let (status, headers) = (resp.status(), resp.headers().clone());
    Page { status, headers, body: resp.text().await.expect("body") }
}

async fn get(app: &TestApp, path: &str, cookie: Option<&str>) -> Page {
    let mut req = browser().get(format!("{}{path}", app.base));
    if let Some(c) = cookie {
        req = req.header("cookie", format!("tessera_link={c}"));
    }
    page(req).await
}

async fn post(app: &TestApp, path: &str, cookie: &str, fields: &[(&str, &str)]) -> Page {
    let req =
        browser().post(format!("{}{path}", app.base)).header("cookie", format!("tessera_link={cookie}")).form(fields);
    page(req).await
}

/// A session started from a Link URL: its cookie.
async fn start(app: &TestApp, token: &str, query: &str) -> String {
    let started = get(app, &format!("/link/{token}{query}"), None).await;
    assert_eq!(started.status, StatusCode::SEE_OTHER, "{}", started.body);
    started.cookie().expect("a session cookie")
}

/// Walks a session to the connector's sign-in page: the session reference handed over.
async fn hand_off(app: &TestApp, cookie: &str) -> String {
    let consent = get(app, "/link/session", Some(cookie)).await;
    assert_eq!(consent.status, StatusCode::OK, "{}", consent.body);
    let sent = post(app, "/link/session/consent", cookie, &[("csrf", &consent.csrf())]).await;
    assert_eq!(sent.status, StatusCode::SEE_OTHER, "{}", sent.body);
    let location = sent.location().to_owned();
    assert!(location.starts_with("https://connector.example/sign-in?session="), "{location}");
    location.split("session=").nth(1).expect("a reference").to_owned()
}

async fn a_connector_reaches_only_the_sessions_handed_to_it(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let signs_in = connector(&app, "signs-in").await;
    let other = connector(&app, "no-sign-in-page").await;
    sign_in_page(&app, &signs_in, None).await;
    let token = link_token(&app, "cust-1", "jane@example.com").await;
    let cookie = start(&app, &token, "?retailer_id=walmart").await;
    let reference = hand_off(&app, &cookie).await;
    let path = format!("/connector/link-sessions/{reference}");

    // The other connector learns nothing, and cannot complete the session: the answers are
    // those for a reference that names no session.
    let seen = app.call("GET", &path, &other, None).await;
    assert_eq!(seen.status, StatusCode::NOT_FOUND);
    assert_eq!(seen.body, json!({"detail": NOT_AT_CONNECTOR}));
    let done = app.call("POST", &format!("{path}/complete"), &other, Some(json!({"outcome": "active"}))).await;
    assert_eq!(done.status, StatusCode::NOT_FOUND);
    assert_eq!(done.body, json!({"detail": NOT_AT_CONNECTOR}));
    let unknown = format!("/connector/link-sessions/{}", "x".repeat(reference.len()));
    assert_eq!(app.call("GET", &unknown, &other, None).await.body, seen.body, "the same as an unknown reference");

    // The connector it was handed to still sees it, and completes it.
    let seen = app.call("GET", &path, &signs_in, None).await;
    assert_eq!(seen.status, StatusCode::OK, "{}", seen.body);
    assert_eq!(seen.body["customer_id"], "cust-1");
    let done = app.call("POST", &format!("{path}/complete"), &signs_in, Some(json!({"outcome": "active"}))).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert_eq!(done.body["state"], "completed");
}

async fn the_consent_page_says_whose_link_and_an_open_session_is_never_replaced(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let credential = connector(&app, "c").await;
    sign_in_page(&app, &credential, None).await;
    let own = link_token(&app, "customer", "jane.doe@example.com").await;
    let cookie = start(&app, &own, "?retailer_id=walmart").await;
    let consent = get(&app, "/link/session", Some(&cookie)).await;
    assert!(consent.body.contains("j•••@example.com"), "{}", consent.body);
    assert!(!consent.body.contains("jane.doe"), "the email is masked");
    assert!(consent.body.contains("<strong>default</strong> account of"), "{}", consent.body);

    // Someone else's Link URL, opened in the same browser: no new session, the cookie kept,
    // and the page says whose session is open, with the ways on.
    let hostile = link_token(&app, "attacker", "mallory@evil.example").await;
    let swapped = get(&app, &format!("/link/{hostile}?retailer_id=walmart"), Some(&cookie)).await;
    assert_eq!(swapped.status, StatusCode::CONFLICT, "{}", swapped.body);
    assert!(swapped.cookie().is_none() && !swapped.headers.contains_key("set-cookie"), "the cookie is kept");
    assert!(swapped.body.contains("already open"), "{}", swapped.body);
    assert!(swapped.body.contains("j•••@example.com") && !swapped.body.contains("evil.example"), "{}", swapped.body);
    assert!(swapped.body.contains("href=\"/link/session\"") && swapped.body.contains("/link/session/exit"));
    let still = get(&app, "/link/session", Some(&cookie)).await;
    assert_eq!(still.status, StatusCode::OK);
    assert!(still.body.contains("j•••@example.com"), "{}", still.body);

    // Once that session is over, a new Link URL starts a new one.
    let left = post(&app, "/link/session/exit", &cookie, &[("csrf", &still.csrf())]).await;
    assert_eq!(left.status, StatusCode::OK, "{}", left.body);
    let fresh = get(&app, &format!("/link/{hostile}"), Some(&cookie)).await;
    assert_eq!(fresh.status, StatusCode::SEE_OTHER, "{}", fresh.body);
    assert!(fresh.cookie().is_some());
}

async fn a_nul_in_any_link_input_is_a_400(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let credential = connector(&app, "c").await;
    sign_in_page(&app, &credential, None).await;
    let token = link_token(&app, "customer", "c@example.com").await;
    for query in [
        "?retailer_id=walmart%00",
        "?connection_id=%00",
        "?connection_id=01JAAAAAAAAAAAAAAAAAAAAAAA%00",
        "?customer_id=%00",
        "?redirect_url=https://app.example/%00",
        "?x%00=1",
    ] {
        let r = get(&app, &format!("/link/{token}{query}"), None).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{query}: {}", r.body);
        assert!(r.body.contains("not valid"), "{query}: {}", r.body);
    }
    assert_eq!(get(&app, "/link/%00", None).await.status, StatusCode::BAD_REQUEST);
    assert_eq!(get(&app, "/link/return?session=%00", None).await.status, StatusCode::BAD_REQUEST);
    // Not a 500 even where the page checks the shape itself (a NUL-free bad id).
    let r = get(&app, &format!("/link/{token}?connection_id=nope"), None).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);

    let cookie = start(&app, &token, "").await;
    assert_eq!(get(&app, "/link/session?q=wal%00", Some(&cookie)).await.status, StatusCode::BAD_REQUEST);
    let choose = get(&app, "/link/session", Some(&cookie)).await;
    let csrf = choose.csrf();
    for id in ["walmart\0", "\0"] {
        let r = post(&app, "/link/session/retailer", &cookie, &[("csrf", &csrf), ("retailer_id", id)]).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{id:?}: {}", r.body);
    }
    // The session goes on.
    let ok = post(&app, "/link/session/retailer", &cookie, &[("csrf", &csrf), ("retailer_id", "walmart")]).await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.body);
}

async fn only_retailers_with_a_sign_in_page_are_offered(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let credential = connector(&app, "c").await;
    sign_in_page(&app, &credential, Some(&["walmart"])).await;
    let token = link_token(&app, "customer", "c@example.com").await;
    let cookie = start(&app, &token, "").await;
    let choose = get(&app, "/link/session", Some(&cookie)).await;
    assert!(choose.body.contains("value=\"walmart\""), "{}", choose.body);
    for id in ["amazon", "costco", "instacart", "kroger", "target"] {
        assert!(!choose.body.contains(&format!("value=\"{id}\"")), "{id} has no sign-in page: {}", choose.body);
    }
    // Picked anyway (an old page): refused with the way on, back to the retailers or out.
    let picked =
        post(&app, "/link/session/retailer", &cookie, &[("csrf", &choose.csrf()), ("retailer_id", "target")]).await;
    assert_eq!(picked.status, StatusCode::SERVICE_UNAVAILABLE, "{}", picked.body);
    assert!(picked.body.contains("no sign-in is available"), "{}", picked.body);
    assert!(picked.body.contains("href=\"/link/session\"") && picked.body.contains("Choose another retailer"));
    assert!(picked.body.contains("action=\"/link/session/exit\""), "{}", picked.body);
    // And a Link URL naming it is refused before a session starts, with the way back to
    // the app when it gave a registered one.
    let named = get(&app, &format!("/link/{token}?retailer_id=target"), None).await;
    assert_eq!(named.status, StatusCode::SERVICE_UNAVAILABLE, "{}", named.body);
    let back = "https://app.example/linked";
    let r = app.call("POST", "/redirect-urls", &app.api_key, Some(json!({"url": back}))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let named = get(&app, &format!("/link/{token}?retailer_id=target&redirect_url={back}"), None).await;
    assert_eq!(named.status, StatusCode::SERVICE_UNAVAILABLE, "{}", named.body);
    assert!(named.body.contains("href=\"https://app.example/linked?subtotal_link_result=error\""), "{}", named.body);
    assert!(named.body.contains("Return to default"), "{}", named.body);
    // A revoked token too.
    let revoked = link_token(&app, "customer", "c@example.com").await;
    app.call("DELETE", &format!("/link-tokens/{revoked}"), &app.api_key, None).await;
    let gone = get(&app, &format!("/link/{revoked}?redirect_url={back}"), None).await;
    assert_eq!(gone.status, StatusCode::GONE, "{}", gone.body);
    assert!(gone.body.contains("subtotal_link_result=error"), "{}", gone.body);
    // With no sign-in page at all, nothing is offered.
    app.call("DELETE", "/connector/link-url", &credential, None).await;
    let none = get(&app, "/link/session", Some(&cookie)).await;
    assert!(none.body.contains("No retailer can be linked yet"), "{}", none.body);
}

async fn a_new_connection_is_linked_not_signed_in_again(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let connection = app.create_connection(&app.api_key, "cust-new").await;
    let minted = app
        .call("POST", &format!("/connection/{connection}/token"), &app.api_key, Some(json!({"scope": "link"})))
        .await;
    assert_eq!(minted.status, StatusCode::CREATED, "{}", minted.body);
    let jwt = minted.body["connection_token"].as_str().expect("a token").to_owned();
    let cookie = start(&app, &jwt, "").await;
    let consent = get(&app, "/link/session", Some(&cookie)).await;
    assert_eq!(consent.status, StatusCode::OK, "{}", consent.body);
    assert!(consent.body.contains("wants to link your Walmart account"), "{}", consent.body);
    assert!(!consent.body.contains("Sign in to Walmart again"), "{}", consent.body);
    assert!(!consent.body.contains("can no longer read"), "{}", consent.body);
}

async fn link_requests_are_logged_and_counted_by_route(db: TestDb) {
    let app = TestApp::spawn(db).await;
    get(&app, "/link/session", None).await;
    get(&app, "/link/lt_v1_not-a-token", None).await;
    let metrics = app.raw("GET", "/metrics", &[], vec![]).await;
    let text = metrics.body["_raw"].as_str().unwrap_or_default().to_owned();
    assert!(text.contains("route=\"/link/session\",status=\"410\""), "{text}");
    assert!(text.contains("route=\"/link/{token}\",status=\"404\""), "{text}");
    assert!(!text.contains("lt_v1_"), "no token in a label");
}

async fn the_429_page_says_the_wait_retry_after_gives(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let mut limited = None;
    for _ in 0..200 {
        let p = get(&app, "/link/session", None).await;
        if p.status == StatusCode::TOO_MANY_REQUESTS {
            limited = Some(p);
            break;
        }
    }
    let p = limited.expect("the Link pages' rate limit answers 429");
    let secs: u64 = p.headers["retry-after"].to_str().expect("ascii").parse().expect("seconds");
    let words = if secs == 1 { "Wait a second".to_owned() } else { format!("Wait {secs} seconds") };
    assert!(p.body.contains(&words), "Retry-After {secs}: {}", p.body);
    assert!(!p.body.contains("minute"), "{}", p.body);
}

crate::both_backends!(
    a_connector_reaches_only_the_sessions_handed_to_it,
    the_consent_page_says_whose_link_and_an_open_session_is_never_replaced,
    a_nul_in_any_link_input_is_a_400,
    only_retailers_with_a_sign_in_page_are_offered,
    a_new_connection_is_linked_not_signed_in_again,
    link_requests_are_logged_and_counted_by_route,
    the_429_page_says_the_wait_retry_after_gives,
);

async fn app_with_body_timeout(secs: u32) -> TestApp {
    let mut config = ServeConfig::for_tests();
    config.limits.body_timeout = secs;
    let db = TestDb::new(Backend::Sqlite).await.expect("sqlite");
    TestApp::spawn_with(db, config, Arc::new(SystemClock)).await
}

/// Announces a 100-byte body, sends 5 bytes, and reads the answer (a hang guard: a generous
/// bound, never a timing claim).
async fn trickle(app: &TestApp, path: &str) -> String {
    let addr = app.base.trim_start_matches("http://");
    let head = format!(
        "POST {path} HTTP/1.1\r\nhost: {addr}\r\ncookie: tessera_link=abc\r\ncontent-type: application/x-www-form-urlencoded\r\ncontent-length: 100\r\n\r\ncsrf="
    );
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(head.as_bytes()).await.expect("write");
    let mut out = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(30), s.read_to_end(&mut out)).await;
    assert!(read.is_ok(), "answered and closed before the hang guard");
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn a_slow_link_form_and_a_slow_console_sign_in_are_answered_408() {
    let app = app_with_body_timeout(1).await;
    for path in ["/link/session/exit", "/link/session/consent", "/console/sign-in"] {
        let answer = trickle(&app, path).await;
        assert!(answer.starts_with("HTTP/1.1 408"), "{path}: {answer}");
        assert!(answer.contains("\"detail\":\"Request body not received within 1 seconds\""), "{path}: {answer}");
        let lower = answer.to_ascii_lowercase();
        assert!(lower.contains("connection: close"), "{path}: {answer}");
        assert!(lower.contains("x-frame-options: deny"), "{path}: the page's own headers are kept: {answer}");
    }
}

#[tokio::test]
async fn one_address_holds_a_bounded_number_of_unfinished_bodies() {
    let app = app_with_body_timeout(60).await;
    let addr = app.base.trim_start_matches("http://").to_owned();
    // An API route (the Link pages' own per-address rate limit would answer first): a body
    // announced and begun, then held.
    let head = format!(
        "POST /connections HTTP/1.1\r\nhost: {addr}\r\nx-api-key: {}\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{{\"customer_id\"",
        app.api_key
    );
    let mut held = Vec::new();
    for _ in 0..tessera::http::body_deadline::MAX_UNFINISHED_PER_ADDRESS {
        let mut s = TcpStream::connect(&addr).await.expect("connect");
        s.write_all(head.as_bytes()).await.expect("write");
        held.push(s);
    }
    // Past the cap, the next request whose body must wait is refused at once.
    let mut refused = None;
    for _ in 0..50 {
        let mut s = TcpStream::connect(&addr).await.expect("connect");
        s.write_all(head.as_bytes()).await.expect("write");
        let mut buf = vec![0u8; 4096];
        // Not answered in this while: the server took it before the cap was reached (held too).
        if let Ok(Ok(n)) = tokio::time::timeout(Duration::from_secs(2), s.read(&mut buf)).await {
            let answer = String::from_utf8_lossy(&buf[..n]).into_owned();
            assert!(answer.starts_with("HTTP/1.1 429"), "{answer}");
            refused = Some(answer);
            break;
        }
        held.push(s);
    }
    let answer = refused.expect("a request past the cap is refused");
    assert!(answer.to_ascii_lowercase().contains("retry-after: 60"), "{answer}");
    assert!(answer.contains("Too many unfinished request bodies from this address"), "{answer}");
    // A request without a body is still served.
    assert_eq!(app.raw("GET", "/healthz", &[], vec![]).await.status, StatusCode::OK);
    drop(held);
}
