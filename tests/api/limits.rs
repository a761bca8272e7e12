//! Limits and abuse: oversized and too many headers, slow clients, idle connections, and a
//! panicking handler. None of them takes the service down.
use std::sync::Arc;
use std::time::Duration;

use axum::routing::get;
use std::time::Instant;
use tessera::auth::api_key::PlainApiKey;
use tessera::config::ServeConfig;
use tessera::rate_limit::{Decision, RateLimiter};
use tessera::token::clock::SystemClock;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::api::helpers::TestApp;
use crate::support::{Backend, TestDb};

async fn app_with_short_timeouts() -> TestApp {
    let mut config = ServeConfig::for_tests();
    config.limits.header_timeout = 1;
    config.limits.body_timeout = 1;
    let db = TestDb::new(Backend::Sqlite).await.expect("sqlite");
    TestApp::spawn_with(db, config, Arc::new(SystemClock)).await
}

fn addr(app: &TestApp) -> String {
    app.base.trim_start_matches("http://").to_owned()
}

/// Sends raw bytes and reads until the server closes or 5 s pass.
async fn exchange(addr: &str, request: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    let _ = s.write_all(request).await;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn oversized_headers_and_too_many_headers_are_431() {
    let app = app_with_short_timeouts().await;
    let big = format!("GET /healthz HTTP/1.1\r\nhost: x\r\nx-big: {}\r\n\r\n", "a".repeat(20_000));
    let answer = exchange(&addr(&app), big.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");
    assert!(answer.contains("\"detail\":\"Request headers too large"), "{answer}");
    let huge = format!("GET /healthz HTTP/1.1\r\nhost: x\r\nx-big: {}\r\n\r\n", "a".repeat(1_000_000));
    assert!(exchange(&addr(&app), huge.as_bytes()).await.starts_with("HTTP/1.1 431"));
    let mut many = String::from("GET /healthz HTTP/1.1\r\nhost: x\r\n");
    for i in 0..200 {
        many.push_str(&format!("x-h{i}: v\r\n"));
    }
    many.push_str("\r\n");
    assert!(exchange(&addr(&app), many.as_bytes()).await.starts_with("HTTP/1.1 431"));
    // And the service goes on.
    assert_eq!(app.raw("GET", "/healthz", &[], vec![]).await.status, 200);
}

#[tokio::test]
async fn a_client_trickling_headers_is_closed_after_the_header_timeout() {
    let app = app_with_short_timeouts().await;
    let mut s = TcpStream::connect(addr(&app)).await.expect("connect");
    s.write_all(b"POST /connections HTTP/1.1\r\nhost: x\r\n").await.expect("write");
    // Never finish the headers: the server must close well before this bound.
    let mut buf = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut buf)).await;
    assert!(closed.is_ok(), "the connection was closed by the server");
}

#[tokio::test]
async fn a_client_trickling_its_body_gets_408() {
    let app = app_with_short_timeouts().await;
    let head = format!(
        "POST /connections HTTP/1.1\r\nhost: x\r\nx-api-key: {}\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{{\"cust",
        app.api_key
    );
    let mut s = TcpStream::connect(addr(&app)).await.expect("connect");
    s.write_all(head.as_bytes()).await.expect("write");
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf)).await.expect("answered").expect("read");
    let answer = String::from_utf8_lossy(&buf[..n]);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"detail\":\"Request body not received within 1 seconds\""), "{answer}");
}

/// This process's (soft, hard) limits on open files, from `/proc/self/limits`.
fn open_file_limits() -> (u64, u64) {
    let limits = std::fs::read_to_string("/proc/self/limits").expect("/proc/self/limits");
    let line = limits.lines().find(|l| l.starts_with("Max open files")).expect("an open files line");
    let mut values = line["Max open files".len()..].split_whitespace().map(|v| match v {
        "unlimited" => u64::MAX,
        n => n.parse().expect("a number"),
    });
    (values.next().expect("soft"), values.next().expect("hard"))
}

/// How many idle connections this process can hold open (each costs two descriptors, the
/// client's and the in-process server's), after raising its soft limit on open files to the
/// hard limit: `cargo test` leaves the soft limit as it found it (often 1,024), which 2,000
/// connections exceed. The raise goes through `prlimit(1)`, which changes a running process's
/// limits; where it is missing or refused, the connections are sized to the limit there is.
fn idle_connections_this_process_can_hold(wanted: u64) -> u64 {
    let (soft, hard) = open_file_limits();
    if soft < hard {
        let hard_text = if hard == u64::MAX { "unlimited".to_owned() } else { hard.to_string() };
        let raised = std::process::Command::new("prlimit")
            .args(["--pid", &std::process::id().to_string(), &format!("--nofile={hard_text}:{hard_text}")])
            .status();
        if !raised.is_ok_and(|s| s.success()) {
            eprintln!("could not raise the soft limit on open files from {soft} to {hard}");
        }
    }
    let (soft, _) = open_file_limits();
    // Descriptors besides the connections: the database, the runtime, other tests' servers.
    let spare = soft.saturating_sub(256) / 2;
    if spare < wanted {
        eprintln!("the open files limit ({soft}) allows {spare} idle connections, not {wanted}");
    }
    wanted.min(spare)
}

#[tokio::test]
async fn thousands_of_idle_connections_do_not_stop_service() {
    let count = idle_connections_this_process_can_hold(2000);
    assert!(count >= 300, "too few descriptors for this test to mean anything: {count} connections");
    let app = app_with_short_timeouts().await;
    let mut idle = Vec::new();
    for _ in 0..count {
        idle.push(TcpStream::connect(addr(&app)).await.expect("connect"));
    }
    let r = app.raw("GET", "/healthz", &[], vec![]).await;
    assert_eq!(r.status, 200, "served while {count} connections idle");
    // Idle connections are closed after the header timeout, freeing their resources.
    let mut first = idle.swap_remove(0);
    let mut buf = [0u8; 1];
    let closed = tokio::time::timeout(Duration::from_secs(10), first.read(&mut buf)).await;
    assert!(matches!(closed, Ok(Ok(0)) | Ok(Err(_))), "an idle connection is closed by the server");
}

#[tokio::test]
async fn a_panicking_handler_is_a_500_with_a_detail_and_the_service_goes_on() {
    let app = app_with_short_timeouts().await;
    let extra = axum::Router::new().route(
        "/boom",
        get(|| async {
            let v: Vec<u8> = Vec::new();
            // An out-of-bounds index: a bug, not a deliberate panic! call.
            v[usize::from(v.is_empty())].to_string()
        }),
    );
    let router = tessera::http::router_with(app.app_state.clone(), true, extra);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(tessera::http::server::serve(
        listener,
        router,
        Default::default(),
        std::future::pending(),
        Duration::from_secs(1),
    ));
    let http = reqwest::Client::new();
    for _ in 0..3 {
        let r = http.get(format!("{base}/boom")).send().await.expect("answered");
        assert_eq!(r.status(), 500);
        assert!(r.headers().contains_key("x-request-id"));
        let body: serde_json::Value = r.json().await.expect("json");
        assert_eq!(body, serde_json::json!({"detail": "Internal Server Error"}));
    }
    let ok = http.get(format!("{base}/healthz")).send().await.expect("answered");
    assert_eq!(ok.status(), 200, "the process keeps serving");
}

/// The limiter on its own, driven by constructed instants: a burst, then one request per
/// 1/rate seconds, the wait it announces, buckets per key, and no saving beyond the burst.
#[test]
fn a_bucket_bursts_then_refills_at_its_rate() {
    let limiter = RateLimiter::new(1.0, 3);
    assert_eq!(limiter.burst(), 3);
    let t0 = Instant::now();
    for _ in 0..3 {
        assert_eq!(limiter.take(&"k", t0), Decision::Allowed);
    }
    assert_eq!(limiter.take(&"k", t0), Decision::Limited { retry_after_secs: 1 });
    assert_eq!(limiter.take(&"other", t0), Decision::Allowed, "keys are independent");
    assert_eq!(limiter.take(&"k", t0 + Duration::from_millis(999)), Decision::Limited { retry_after_secs: 1 });
    assert_eq!(limiter.take(&"k", t0 + Duration::from_secs(1)), Decision::Allowed, "one token a second");
    assert_eq!(limiter.take(&"k", t0 + Duration::from_secs(1)), Decision::Limited { retry_after_secs: 1 });
    // An idle hour saves no more than the burst.
    let later = t0 + Duration::from_secs(3600);
    for _ in 0..3 {
        assert_eq!(limiter.take(&"k", later), Decision::Allowed);
    }
    assert!(matches!(limiter.take(&"k", later), Decision::Limited { .. }));

    // A slower rate announces a longer wait, rounded up to whole seconds.
    let slow = RateLimiter::new(0.25, 1);
    assert_eq!(slow.take(&"k", t0), Decision::Allowed);
    assert_eq!(slow.take(&"k", t0), Decision::Limited { retry_after_secs: 4 });
    assert_eq!(slow.take(&"k", t0 + Duration::from_millis(3_900)), Decision::Limited { retry_after_secs: 1 });
    assert_eq!(slow.take(&"k", t0 + Duration::from_secs(4)), Decision::Allowed);
}

/// Failed authentications use `peek` before the key is looked up and `take` after a failure:
/// a peek never spends a token, and an address is let in again once its bucket refills.
#[test]
fn an_address_refused_for_failures_is_let_in_again_once_its_bucket_refills() {
    let failures = RateLimiter::new(1.0, 3);
    let ip: std::net::IpAddr = [127, 0, 0, 1].into();
    let t0 = Instant::now();
    for _ in 0..3 {
        assert_eq!(failures.peek(&ip, t0), Decision::Allowed, "peeking spends nothing");
        assert_eq!(failures.take(&ip, t0), Decision::Allowed);
    }
    assert_eq!(failures.peek(&ip, t0), Decision::Limited { retry_after_secs: 1 });
    assert_eq!(failures.peek(&ip, t0 + Duration::from_millis(500)), Decision::Limited { retry_after_secs: 1 });
    assert_eq!(failures.peek(&ip, t0 + Duration::from_secs(1)), Decision::Allowed);
    assert_eq!(failures.peek(&ip, t0 + Duration::from_secs(1)), Decision::Allowed, "still not spent");
}

/// The bucket the server keeps for `key`: limited now, and allowed once a second has passed
/// on the limiter's clock (the refill itself is checked above, without waiting for it).
async fn refills_within_a_second<K: Eq + std::hash::Hash + Clone + std::fmt::Display>(
    limiter: &tessera::rate_limit::Limiter<K>,
    key: &K,
) {
    let now = Instant::now();
    assert!(matches!(limiter.peek(key, now).await, Decision::Limited { .. }));
    assert_eq!(limiter.peek(key, now + Duration::from_secs(1)).await, Decision::Allowed);
}

/// Over HTTP: a 429 with its detail and headers once a key's burst is spent, a bucket per key,
/// and the refusal counted. The limit is one a second, so the four requests are well within
/// one refill.
#[tokio::test]
async fn each_api_key_is_rate_limited_with_429_and_ratelimit_headers() {
    let mut config = ServeConfig::for_tests();
    config.limits.rate_limit = 1;
    config.limits.rate_burst = 3;
    let db = TestDb::new(Backend::Sqlite).await.expect("sqlite");
    let app = TestApp::spawn_with(db, config, Arc::new(SystemClock)).await;
    let second_key = app.new_key(&app.client_id).await;
    let conn = app.create_connection(&second_key, "c").await; // the second key's first request
    assert_eq!(app.mint(&app.api_key, &conn).await.status, 201);
    assert_eq!(app.mint(&app.api_key, &conn).await.status, 201);
    assert_eq!(app.mint(&app.api_key, &conn).await.status, 201);
    let limited = app.mint(&app.api_key, &conn).await;
    assert_eq!(limited.status, 429);
    assert!(limited.body["detail"].as_str().expect("detail").starts_with("Rate limit exceeded"));
    assert_eq!(limited.headers["retry-after"], "1");
    assert_eq!(limited.headers["ratelimit-limit"], "3");
    assert_eq!(limited.headers["ratelimit-remaining"], "0");
    assert_eq!(limited.headers["ratelimit-reset"], "1");
    assert_eq!(app.mint(&second_key, &conn).await.status, 201, "another key has its own bucket");
    let metrics = app.raw("GET", "/metrics", &[], vec![]).await;
    assert!(metrics.body["_raw"].as_str().expect("text").contains("tessera_rate_limited_requests_total 1"));
    let (key_id, _) = PlainApiKey::parse(&app.api_key).expect("a well-formed key");
    refills_within_a_second(&app.app_state.limits.per_key, &key_id).await;
}

/// Over HTTP: after the burst of failed authentications, the address is refused before its
/// key is looked up, even with a real key.
#[tokio::test]
async fn repeated_failed_authentications_from_one_address_are_refused() {
    let mut config = ServeConfig::for_tests();
    config.limits.auth_failure_rate = 1;
    config.limits.auth_failure_burst = 3;
    let db = TestDb::new(Backend::Sqlite).await.expect("sqlite");
    let app = TestApp::spawn_with(db, config, Arc::new(SystemClock)).await;
    let guess = "tsk_01ARZ3NDEKTSV4RRFFQ69G5FAV_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    // A healthy client behind the same address, whose key this process has seen work.
    assert_eq!(app.call("GET", "/connections?customer_id=x", &app.api_key, None).await.status, 200);
    let unseen = app.new_key(&app.client_id).await;
    app.app_state.key_cache.remove(&PlainApiKey::parse(&unseen).expect("a key").0);
    for _ in 0..3 {
        assert_eq!(app.call("GET", "/connections?customer_id=x", guess, None).await.status, 401);
    }
    let refused = app.call("GET", "/connections?customer_id=x", guess, None).await;
    assert_eq!(refused.status, 429);
    assert_eq!(refused.headers["retry-after"], "1");
    // While the address is refused, a key not yet known to be live waits (a guess learns
    // nothing), but one already known to be live is not held back for the others' failures.
    assert_eq!(app.call("GET", "/connections?customer_id=x", &unseen, None).await.status, 429);
    for _ in 0..5 {
        let r = app.call("GET", "/connections?customer_id=x", &app.api_key, None).await;
        assert_eq!(r.status, 200, "a live key behind a spent address: {}", r.body);
    }
    // Its revocation is still seen at once, and then it is held back like any other.
    let (key_id, _) = PlainApiKey::parse(&app.api_key).expect("a key");
    app.core.keys().revoke(tessera::service::Actor::CommandLine, None, &key_id, 1).await.expect("revoke");
    let r = app.call("GET", "/connections?customer_id=x", &app.api_key, None).await;
    assert!(r.status == 401 || r.status == 429, "{}", r.status);
    refills_within_a_second(&app.app_state.limits.auth_failures, &[127, 0, 0, 1].into()).await;
}

/// One answer on a kept-alive connection: its status, its header block (lower case), and
/// whether the server closed the connection right after it.
async fn answer_on(s: &mut TcpStream) -> (u16, String, bool) {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        let n =
            tokio::time::timeout(Duration::from_secs(5), s.read(&mut byte)).await.expect("an answer").expect("read");
        assert_eq!(n, 1, "closed before an answer: {}", String::from_utf8_lossy(&buf));
        buf.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&buf).to_ascii_lowercase();
    let status = head[9..12].parse().expect("status");
    let len: usize =
        head.lines().find_map(|l| l.strip_prefix("content-length:")).map_or(0, |v| v.trim().parse().expect("length"));
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).await.expect("body");
    // Closed: the next read ends at once (or within a moment) with nothing.
    let mut rest = [0u8; 1];
    let closed =
        matches!(tokio::time::timeout(Duration::from_millis(300), s.read(&mut rest)).await, Ok(Ok(0) | Err(_)));
    (status, head, closed)
}

/// A token request whose body arrives 50 ms after its headers, on one kept-alive connection.
async fn split_request(s: &mut TcpStream, key: &str, conn: &str) {
    let body = br#"{"scope": "access"}"#;
    let head = format!(
        "POST /connections/{conn}/token HTTP/1.1\r\nhost: t\r\nx-api-key: {key}\r\ncontent-type: application/json\r\n\
         content-length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).await.expect("headers");
    tokio::time::sleep(Duration::from_millis(50)).await;
    // The server may have answered and closed already: a failed write is what is checked.
    let _ = s.write_all(body).await;
}

/// An answer given before the body was read (a `429`, a `401`) either keeps the connection
/// usable or says `Connection: close`: a client never meets a silently closed connection.
#[tokio::test]
async fn an_early_answer_that_closes_the_connection_says_so() {
    let mut config = ServeConfig::for_tests();
    config.limits.rate_limit = 1;
    config.limits.rate_burst = 1;
    let db = TestDb::new(Backend::Sqlite).await.expect("sqlite");
    let app = TestApp::spawn_with(db, config, Arc::new(SystemClock)).await;
    let second = app.new_key(&app.client_id).await;
    let conn = app.create_connection(&second, "c").await;
    let check = |(status, head, closed): (u16, String, bool), expected: u16| {
        assert_eq!(status, expected, "{head}");
        let says_close = head.contains("\r\nconnection: close\r\n");
        assert!(!closed || says_close, "closed after a {status} without saying so:\n{head}");
        says_close
    };

    let mut s = TcpStream::connect(addr(&app)).await.expect("connect");
    split_request(&mut s, &app.api_key, &conn).await;
    assert!(!check(answer_on(&mut s).await, 201), "a request whose body was read keeps the connection");
    split_request(&mut s, &app.api_key, &conn).await;
    let limited_closed = check(answer_on(&mut s).await, 429);
    if !limited_closed {
        split_request(&mut s, &app.api_key, &conn).await;
        check(answer_on(&mut s).await, 429);
    }

    let mut s = TcpStream::connect(addr(&app)).await.expect("connect");
    let unknown = "tsk_01ARZ3NDEKTSV4RRFFQ69G5FAV_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    split_request(&mut s, unknown, &conn).await;
    if !check(answer_on(&mut s).await, 401) {
        split_request(&mut s, unknown, &conn).await;
        check(answer_on(&mut s).await, 401);
    }
}
