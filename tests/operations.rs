//! Operating tessera: metrics, request ids and logs, graceful shutdown, the configuration
//! file, and the help text.
use std::collections::HashMap;
use std::process::{Command, Stdio};

use crate::support::server::{BIN, cli_json, create_connection, jti_of, start, start_with};
use crate::support::{Backend, TestDb};
use serde_json::{Value, json};
use tessera::domain::ids::TokenId;

/// Prometheus text format: `name{labels}` -> value, for every sample line.
fn parse_metrics(text: &str) -> HashMap<String, f64> {
    let mut out = HashMap::new();
    for line in text.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()) {
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("sample line {line:?}"));
        let value: f64 = value.parse().unwrap_or_else(|_| panic!("numeric value in {line:?}"));
        assert!(out.insert(series.to_owned(), value).is_none(), "duplicate series {series}");
    }
    out
}

async fn mint(http: &reqwest::Client, base: &str, key: &str, conn: &str) -> reqwest::Response {
    http.post(format!("{base}/connections/{conn}/token"))
        .header("x-api-key", key)
        .json(&json!({"scope": "access"}))
        .send()
        .await
        .expect("sent")
}

async fn metrics_count_requests_tokens_and_failures(db: TestDb) {
    let server = start(&db, &[]);
    let key = server.bootstrap_key.clone().expect("key");
    let http = reqwest::Client::new();
    let conn = create_connection(&http, &server.base, &key).await;
    for _ in 0..3 {
        assert_eq!(mint(&http, &server.base, &key, &conn).await.status(), 201);
    }
    assert_eq!(mint(&http, &server.base, "tsk_wrong", &conn).await.status(), 401);
    assert_eq!(mint(&http, &server.base, &key, "missing").await.status(), 404);
    let resp = http.get(format!("{}/metrics", server.base)).send().await.expect("sent");
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"].to_str().expect("ascii").starts_with("text/plain"));
    let m = parse_metrics(&resp.text().await.expect("text"));
    let token_route = r#"method="POST",route="/connections/{connection_id}/token""#;
    assert_eq!(m[&format!("tessera_http_requests_total{{{token_route},status=\"201\"}}")], 3.0);
    assert_eq!(m[&format!("tessera_http_requests_total{{{token_route},status=\"401\"}}")], 1.0);
    assert_eq!(m[&format!("tessera_http_requests_total{{{token_route},status=\"404\"}}")], 1.0);
    assert_eq!(m[&format!("tessera_http_request_duration_seconds_count{{{token_route}}}")], 5.0);
    assert_eq!(m[&format!("tessera_http_request_duration_seconds_bucket{{{token_route},le=\"+Inf\"}}")], 5.0);
    assert_eq!(m["tessera_tokens_minted_total"], 3.0);
    assert_eq!(m["tessera_auth_failures_total"], 1.0);
    assert_eq!(m["tessera_rate_limited_requests_total"], 0.0);
    assert!(m["tessera_db_pool_max_connections"] >= 1.0);
    assert!(m.contains_key("tessera_db_pool_connections{state=\"idle\"}"));
    assert_eq!(m["tessera_issuance_queue_depth"], 0.0);
    assert!(!m.keys().any(|k| k.contains(&conn)), "route templates, never raw paths");
}

#[tokio::test]
async fn metrics_can_have_a_listener_of_their_own() {
    let db = TestDb::new(Backend::Sqlite).await.expect("sqlite");
    // Port 0: the server picks a free port and announces it.
    let server = start(&db, &["--metrics-bind", "127.0.0.1:0"]);
    let metrics_base = server.metrics_base.clone().expect("the metrics listener was announced");
    assert_ne!(metrics_base, server.base);
    let http = reqwest::Client::new();
    assert_eq!(http.get(format!("{}/metrics", server.base)).send().await.expect("sent").status(), 404);
    let r = http.get(format!("{metrics_base}/metrics")).send().await.expect("sent");
    assert_eq!(r.status(), 200);
    assert!(r.text().await.expect("text").contains("tessera_http_requests_total"));
}

/// The process's resident set size, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).expect("VmRSS line");
    line.split_whitespace().nth(1).expect("value").parse().expect("KiB")
}

/// One request written byte for byte (clients refuse odd methods), read to the end.
async fn raw_request(addr: &str, method: &str, path: &str) -> Vec<u8> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connects");
    let head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(head.as_bytes()).await.expect("written");
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.expect("answer");
    answer
}

/// The `/metrics` body, read up to `limit` bytes (a longer one is cut there).
async fn metrics_body(base: &str, limit: usize) -> Vec<u8> {
    let mut resp = reqwest::get(format!("{base}/metrics")).await.expect("sent");
    assert_eq!(resp.status(), 200);
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.expect("chunk") {
        body.extend_from_slice(&chunk);
        if body.len() > limit {
            break;
        }
    }
    body
}

/// Sends requests `range` of a deterministic flood: each a distinct method (of 8,000 to 24,000
/// random letters when `long`, else a few), on a distinct path that is unrouted, routed (`/connections/{id}`, so a
/// route template with no such method), a trailing-slash redirect, or `/healthz`.
async fn flood_of_odd_methods(addr: &str, range: std::ops::Range<u64>, long: bool) {
    use rand::{Rng as _, SeedableRng as _};
    let mut tasks = Vec::new();
    for lane in 0..4u64 {
        let addr = addr.to_owned();
        let range = range.clone();
        tasks.push(tokio::spawn(async move {
            for i in range.filter(|i| i % 4 == lane) {
                let mut rng = rand::rngs::StdRng::seed_from_u64(i);
                let mut letters = |n: usize| -> String {
                    (0..n).map(|_| char::from(rng.gen_range(b'A'..=b'Z') + if rng.r#gen() { 32 } else { 0 })).collect()
                };
                let len = if long { 8_000 + usize::try_from(i * 7919 % 16_000).expect("small") } else { 2 };
                let method = format!("M{}{i}", letters(len));
                let path = match i % 4 {
                    0 => format!("/{}{i}", letters(40)),
                    1 => format!("/connections/{}{i}", letters(40)),
                    2 => format!("/connections/{}{i}/token/", letters(40)),
                    _ => "/healthz".to_owned(),
                };
                let answer = raw_request(&addr, &method, &path).await;
                assert!(answer.starts_with(b"HTTP/1.1 "), "request {i} was answered");
            }
        }));
    }
    for t in tasks {
        t.await.expect("lane");
    }
}

/// Request methods are client input of any length; metric labels and log fields come from a
/// closed set, so thousands of distinct long methods leave `/metrics` and memory as they were.
///
/// Measured on a debug build: when labels were the raw method, the 2,000 requests below grew
/// the resident set by 38 MB before any scrape and by about 1 GB with one (the page ran to
/// hundreds of MB); with closed labels the page keeps its size and the resident set grows by
/// about 3 MB. The bound, 16 MB, sits well between the two.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn odd_methods_do_not_grow_metrics_or_memory() {
    let db = TestDb::new(Backend::Sqlite).await.expect("sqlite");
    let server = start(&db, &[]);
    let addr = server.base.strip_prefix("http://").expect("http base").to_owned();
    let pid = server.child.id();
    // Every kind of request first, with short methods, so the label set and the allocator's
    // pools are warm.
    flood_of_odd_methods(&addr, 0..40, false).await;
    let metrics_before = metrics_body(&server.base, usize::MAX).await.len();
    let rss_before = rss_kib(pid);

    flood_of_odd_methods(&addr, 40..2_040, true).await;
    let rss_flooded = rss_kib(pid);
    let limit = 2 * metrics_before + 4096;
    let metrics_after = metrics_body(&server.base, limit).await.len();
    let rss_scraped = rss_kib(pid);
    eprintln!(
        "metrics: {metrics_before} -> {metrics_after} bytes; RSS: {rss_before} -> {rss_flooded} KiB flooded, \
         {rss_scraped} KiB after a scrape"
    );
    assert!(metrics_after <= limit, "/metrics grew from {metrics_before} to over {limit} bytes");
    const ALLOWED_KIB: u64 = 16 * 1024;
    for (when, rss) in [("after the flood", rss_flooded), ("after a scrape", rss_scraped)] {
        assert!(rss.saturating_sub(rss_before) <= ALLOWED_KIB, "RSS grew from {rss_before} to {rss} KiB {when}");
    }
}

#[tokio::test]
async fn a_metrics_token_guards_the_metrics_listener_and_is_never_shown() {
    let token = "from-the-environment-0123456789";
    let db = TestDb::new(Backend::Sqlite).await.expect("sqlite");
    let log_path = db.dir().join("tessera.log");
    let log = std::fs::File::create(&log_path).expect("log file");
    let server = start_with(
        &db,
        &["--metrics-bind", "127.0.0.1:0"],
        &[("TESSERA_METRICS_TOKEN", token), ("RUST_LOG", "debug")],
        Stdio::from(log),
    );
    let http = reqwest::Client::new();
    let url = format!("{}/metrics", server.metrics_base.clone().expect("the metrics listener was announced"));
    let r = http.get(&url).send().await.expect("sent");
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["www-authenticate"], "Bearer");
    let r = http.get(&url).bearer_auth("from-the-environment-012345678X").send().await.expect("sent");
    assert_eq!(r.status(), 401);
    let r = http.get(&url).bearer_auth(token).send().await.expect("sent");
    assert_eq!(r.status(), 200);
    assert!(r.text().await.expect("text").contains("tessera_http_requests_total"));
    assert_eq!(http.get(format!("{}/metrics", server.base)).send().await.expect("sent").status(), 404);
    drop(server);
    assert!(!std::fs::read_to_string(&log_path).expect("log").contains(token), "the log never holds the token");
    let help = run(&["serve", "--help"], &[("TESSERA_METRICS_TOKEN", token)]);
    assert!(String::from_utf8_lossy(&help.stdout).contains("TESSERA_METRICS_TOKEN"));
    assert!(!String::from_utf8_lossy(&help.stdout).contains(token), "help hides the value");
    // A weak token stops start-up without repeating it.
    let out = run(&["serve", "--database-url", "sqlite::memory:", "--metrics-token", "hunter2"], &[]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--metrics-token must be 16 to 256") && !stderr.contains("hunter2"), "{stderr}");
}

#[tokio::test]
async fn every_answer_carries_a_request_id() {
    let db = TestDb::new(Backend::Sqlite).await.expect("sqlite");
    let server = start(&db, &[]);
    let http = reqwest::Client::new();
    let given =
        http.get(format!("{}/healthz", server.base)).header("x-request-id", "abc-123").send().await.expect("sent");
    assert_eq!(given.headers()["x-request-id"], "abc-123");
    let made = http.get(format!("{}/nope", server.base)).send().await.expect("sent");
    let id = made.headers()["x-request-id"].to_str().expect("ascii").to_owned();
    assert_eq!(id.len(), 26, "a generated ULID");
    let unusable = "x".repeat(300);
    let replaced =
        http.get(format!("{}/healthz", server.base)).header("x-request-id", &unusable).send().await.expect("sent");
    assert_ne!(replaced.headers()["x-request-id"].to_str().expect("ascii"), unusable);
}

#[tokio::test]
async fn logs_hold_one_json_line_per_request_and_never_a_secret() {
    let db = TestDb::new(Backend::Sqlite).await.expect("sqlite");
    let log_path = db.dir().join("tessera.log");
    let log = std::fs::File::create(&log_path).expect("log file");
    let server = start_with(&db, &["--log-format", "json"], &[("RUST_LOG", "debug")], Stdio::from(log));
    let key = server.bootstrap_key.clone().expect("key");
    let http = reqwest::Client::new();
    let conn = create_connection(&http, &server.base, &key).await;
    let mut tokens = Vec::new();
    for _ in 0..5 {
        let v: Value = mint(&http, &server.base, &key, &conn).await.json().await.expect("json");
        tokens.push(v["connection_token"].as_str().expect("token").to_owned());
    }
    // The calls whose bodies carry tokens: introspection, an idempotent retry (the replay is
    // the stored answer, unsealed), and revocation by token and by jti.
    let introspect = |token: String| {
        http.post(format!("{}/tokens/introspect", server.base))
            .header("x-api-key", &key)
            .json(&json!({"token": token}))
            .send()
    };
    let r: Value = introspect(tokens[1].clone()).await.expect("sent").json().await.expect("json");
    assert_eq!(r["active"], true, "{r}");
    let retry = || {
        http.post(format!("{}/connections/{conn}/token", server.base))
            .header("x-api-key", &key)
            .header("idempotency-key", "retry-of-a-token-request")
            .json(&json!({"scope": "access"}))
            .send()
    };
    let first = retry().await.expect("sent");
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.expect("json");
    let replayed: Value = retry().await.expect("sent").json().await.expect("json");
    assert_eq!(replayed["connection_token"], first["connection_token"], "the retry is the first answer again");
    tokens.push(first["connection_token"].as_str().expect("token").to_owned());
    for body in [json!({"token": tokens[1]}), json!({"jti": jti_of(&tokens[2])})] {
        let r = http
            .post(format!("{}/tokens/revoke", server.base))
            .header("x-api-key", &key)
            .json(&body)
            .send()
            .await
            .expect("sent");
        assert!(r.status().is_success(), "revoke answered {}", r.status());
    }
    let r: Value = introspect(tokens[1].clone()).await.expect("sent").json().await.expect("json");
    assert_eq!(r, json!({"active": false}));
    // Failures too: a wrong secret for a real key id, a bearer token, a bad body.
    let wrong = format!("{}AAAA", &key[..key.len() - 4]);
    assert_eq!(mint(&http, &server.base, &wrong, &conn).await.status(), 401);
    let r = http
        .get(format!("{}/connections/{conn}", server.base))
        .header("authorization", format!("Bearer {}", tokens[0]))
        .send()
        .await
        .expect("sent");
    assert_eq!(r.status(), 401);
    let r = http
        .post(format!("{}/connections/{conn}/token", server.base))
        .header("x-api-key", &key)
        .header("content-type", "application/json")
        .body(format!("{{\"scope\": \"{key}\"}}"))
        .send()
        .await
        .expect("sent");
    assert_eq!(r.status(), 422);
    http.patch(format!("{}/connections/{conn}", server.base))
        .header("x-api-key", &key)
        .json(&json!({"status": "disconnected"}))
        .send()
        .await
        .expect("sent");
    drop(server);

    let text = std::fs::read_to_string(&log_path).expect("log");
    let kek = std::fs::read_to_string(db.dir().join("tessera.db.kek")).expect("kek file");
    // `tsk_<id>_<secret>`, where the secret (base64url) may itself hold a `_`.
    let secret = key.splitn(3, '_').nth(2).expect("secret part");
    let mut forbidden: Vec<(&str, &str)> =
        vec![("api key", &key), ("api key secret", secret), ("wrong key", &wrong), ("kek", kek.trim())];
    for t in &tokens {
        let [header, payload, signature]: [&str; 3] =
            t.split('.').collect::<Vec<_>>().try_into().expect("a token has three parts");
        forbidden.extend([("token", t.as_str()), ("token header", header), ("token payload", payload)]);
        forbidden.push(("token signature", signature));
    }
    for (what, s) in forbidden {
        assert!(!text.contains(s), "the log contains a {what}");
    }
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap_or_else(|_| panic!("a JSON log line: {l}")))
        .collect();
    // The session really ran at debug level: otherwise the checks above prove nothing about it.
    let debug_lines = lines.iter().filter(|v| v["level"] == "DEBUG").count();
    assert!(debug_lines > 0, "no debug-level line was logged");
    let requests: Vec<&Value> = lines.iter().filter(|v| v["fields"]["message"] == "request").collect();
    assert_eq!(requests.len(), 16, "one line per request");
    for r in &requests {
        assert!(r["fields"]["status"].is_u64());
        assert!(r["fields"]["latency_us"].is_u64());
        assert!(r["span"]["request_id"].is_string(), "{r}");
        assert!(r["span"]["route"].is_string(), "{r}");
    }
    assert!(requests.iter().any(|r| r["span"]["route"] == "/connections/{connection_id}/token"));
}

/// Reads one HTTP/1.1 answer with a `Content-Length` from `stream`: its status and body.
async fn read_answer(stream: &mut tokio::net::TcpStream) -> Option<(u16, Vec<u8>)> {
    use tokio::io::AsyncReadExt as _;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let status = head.strip_prefix("http/1.1 ")?.get(..3)?.parse().ok()?;
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map_or(0, |v| v.trim().parse().expect("a length"));
            while buf.len() < end + 4 + length {
                let n = stream.read(&mut chunk).await.ok()?;
                if n == 0 {
                    return None;
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            return Some((status, buf[end + 4..end + 4 + length].to_vec()));
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

async fn sigterm_under_load_finishes_answered_requests_and_exits_zero(db: TestDb) {
    use tokio::io::AsyncWriteExt as _;
    const REQUESTS: usize = 200;
    let mut server = start(&db, &["--shutdown-grace", "10"]);
    let key = server.bootstrap_key.clone().expect("key");
    let http = reqwest::Client::new();
    let conn = create_connection(&http, &server.base, &key).await;
    let addr = server.base.strip_prefix("http://").expect("http base").to_owned();

    // Each request announces its body with `Expect: 100-continue` and waits for the server's
    // `100 Continue`: then the server has read the request and its handler is waiting for the
    // body. Once every request is there, the bodies are sent, and then the signal: every
    // request was sent before it, and is in the server's hands.
    let body = json!({"scope": "access"}).to_string();
    let head = format!(
        "POST /connections/{conn}/token HTTP/1.1\r\nHost: {addr}\r\nX-Api-Key: {key}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nExpect: 100-continue\r\n\
         Connection: close\r\n\r\n",
        body.len()
    );
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let (written_tx, mut written_rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let (go_tx, go_rx) = tokio::sync::watch::channel(false);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(Option<(u16, Vec<u8>)>, std::time::Instant)>();
    for _ in 0..REQUESTS {
        let (head, body, addr) = (head.clone(), body.clone(), addr.clone());
        let (ready_tx, written_tx, tx, mut go_rx) = (ready_tx.clone(), written_tx.clone(), tx.clone(), go_rx.clone());
        tokio::spawn(async move {
            let mut s = tokio::net::TcpStream::connect(&addr).await.expect("connects");
            s.write_all(head.as_bytes()).await.expect("head written");
            assert_eq!(read_answer(&mut s).await.expect("an interim answer").0, 100, "100 Continue");
            ready_tx.send(()).expect("listening");
            go_rx.wait_for(|go| *go).await.expect("go");
            s.write_all(body.as_bytes()).await.expect("body written");
            written_tx.send(()).expect("listening");
            let answer = read_answer(&mut s).await;
            tx.send((answer, std::time::Instant::now())).expect("listening");
        });
    }
    drop((ready_tx, written_tx, tx));
    for _ in 0..REQUESTS {
        ready_rx.recv().await.expect("every request reached a handler");
    }
    go_tx.send(true).expect("requests wait");
    for _ in 0..REQUESTS {
        written_rx.recv().await.expect("written");
    }
    let pid = server.child.id().to_string();
    let signalled = std::time::Instant::now();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().expect("kill").success());
    let mut answers = Vec::new();
    while let Some(a) = rx.recv().await {
        answers.push(a);
    }
    let status = tokio::task::spawn_blocking(move || {
        let s = server.child.wait();
        (s, server)
    })
    .await
    .expect("joined");
    assert!(status.0.expect("exit status").success(), "SIGTERM exits 0");

    assert_eq!(answers.len(), REQUESTS);
    let after_signal = answers.iter().filter(|(_, at)| *at > signalled).count();
    assert!(after_signal > 0, "the signal came while requests were in flight");
    let store = tessera::storage::connect(&db.url).await.expect("reopen");
    let mut minted = 0;
    for (answer, _) in &answers {
        let (code, body) = answer.as_ref().expect("every request sent before the signal was answered");
        assert!([201, 503].contains(code), "answered {code}");
        if *code == 201 {
            minted += 1;
            let body: Value = serde_json::from_slice(body).expect("json");
            let jti = jti_of(body["connection_token"].as_str().expect("token"));
            assert!(
                store.find_issued_token(&TokenId::from_string(jti.clone())).await.expect("query").is_some(),
                "{jti}"
            );
        }
    }
    eprintln!("{minted} of {REQUESTS} minted, {after_signal} answered after SIGTERM");
    assert!(minted > 0);
}

fn run(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    Command::new(BIN).args(args).env_remove("TESSERA_TOKEN_TTL").envs(env.iter().copied()).output().expect("runs")
}

#[tokio::test]
async fn configuration_file_sits_under_environment_and_flags() {
    let db = TestDb::new(Backend::Sqlite).await.expect("sqlite");
    let file = db.dir().join("tessera.toml");
    std::fs::write(&file, "token_ttl = 120\nissuer = \"from-file\"\n").expect("write");
    let file_arg = file.display().to_string();
    let (ok, _, stderr) = crate::support::server::cli(&db, &["migrate"]);
    assert!(ok, "{stderr}");
    let client = cli_json(&db, &["client", "create", "--name", "c", "--json"]);
    let created = cli_json(&db, &["key", "create", "--client", client["client_id"].as_str().expect("id"), "--json"]);
    let key = created["api_key"].as_str().expect("key").to_owned();
    let http = reqwest::Client::new();
    let lifetime = |extra: Vec<&str>, env: Vec<(&str, &str)>| {
        let mut args = vec!["--config", file_arg.as_str()];
        args.extend(extra);
        let server = start_with(&db, &args, &env, Stdio::null());
        let (http, key) = (http.clone(), key.clone());
        async move {
            let conn = create_connection(&http, &server.base, &key).await;
            let v: Value = mint(&http, &server.base, &key, &conn).await.json().await.expect("json");
            let claims = claims_of(v["connection_token"].as_str().expect("token"));
            (claims["exp"].as_i64().expect("exp") - claims["iat"].as_i64().expect("iat"), claims["iss"].clone())
        }
    };
    assert_eq!(lifetime(vec![], vec![]).await, (120, json!("from-file")));
    assert_eq!(lifetime(vec![], vec![("TESSERA_TOKEN_TTL", "300")]).await.0, 300, "environment beats the file");
    assert_eq!(
        lifetime(vec!["--token-ttl", "600"], vec![("TESSERA_TOKEN_TTL", "300")]).await.0,
        600,
        "a flag beats both"
    );
    // The same settings in their section, as `tessera config example` writes them.
    std::fs::write(&file, "[tokens]\nttl = 180\nissuer = \"from-section\"\n").expect("write");
    assert_eq!(lifetime(vec![], vec![]).await, (180, json!("from-section")));
    assert_eq!(lifetime(vec!["--token-ttl", "600"], vec![]).await.0, 600, "a flag beats the section");

    std::fs::write(&file, "token_ttl = 5\n").expect("write");
    let out = run(&["--config", &file_arg, "serve"], &[]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("`token_ttl`"), "{}", String::from_utf8_lossy(&out.stderr));
    std::fs::write(&file, "token_tll = 900\n").expect("write");
    let out = run(&["--config", &file_arg, "serve"], &[]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown key `token_tll`"));
    std::fs::write(&file, "[tokenz]\nttl = 900\n").expect("write");
    let out = run(&["--config", &file_arg, "serve"], &[]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown section `[tokenz]`"));
    std::fs::write(&file, "token_ttl = [1]\n").expect("write");
    let out = run(&["serve"], &[("TESSERA_CONFIG", file_arg.as_str())]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("`token_ttl`"));

    // A file whose name is also a command's (`key`) is still the file, and `serve` the command:
    // its too-short pre-publication stops start-up instead of being ignored.
    std::fs::write(db.dir().join("key"), "key_prepublish = 300\n").expect("write");
    let mut child = Command::new(BIN)
        .args(["--config", "key", "serve", "--bind", "127.0.0.1:0"])
        .current_dir(db.dir())
        .envs(db.env())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("runs");
    let mut exited = None;
    for _ in 0..200 {
        if let Some(status) = child.try_wait().expect("wait") {
            exited = Some(status);
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    if exited.is_none() {
        let _ = child.kill();
    }
    let out = child.wait_with_output().expect("output");
    assert!(exited.is_some_and(|s| !s.success()), "the file's setting was applied to serve");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("key-prepublish"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn claims_of(token: &str) -> Value {
    use base64::Engine as _;
    let payload = token.split('.').nth(1).expect("payload");
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).expect("b64"))
        .expect("json")
}

#[test]
fn the_example_configuration_documents_every_key_and_is_valid() {
    let out = run(&["config", "example"], &[]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).expect("utf8");
    // Each setting in its section, under its key there.
    let section = |name: &str| {
        let start = text.find(&format!("\n[{name}]\n")).unwrap_or_else(|| panic!("[{name}] is in the example"));
        let rest = &text[start + 1..];
        rest[..rest[1..].find("\n[").map_or(rest.len(), |end| end + 1)].to_owned()
    };
    let top = &text[..text.find("\n[").expect("sections")];
    for (name, key) in [("listen", "bind"), ("database", "url"), ("tokens", "ttl"), ("tokens", "algorithm")] {
        assert!(section(name).contains(&format!("\n#{key} = ")), "{name}.{key} is in the example");
    }
    assert!(section("listen").contains("\n#shutdown_grace = "));
    assert!(top.contains("\n#log_format = "), "log_format stays at the top");
    // Keys without a default are documented, with no value that could not be used.
    for (name, key) in [("database", "kek"), ("metrics", "bind"), ("metrics", "token")] {
        let section = section(name);
        assert!(section.contains(&format!("# No default: {key} is unset")), "{name}.{key} is in the example");
        assert!(!section.contains(&format!("#{key} =")), "{name}.{key} has no empty value to uncomment");
    }
    // Every commented setting (`#key = value`; notes start `# `), uncommented, under its
    // section's header, makes a valid configuration.
    let uncommented: String = text
        .lines()
        .filter_map(|l| match l.strip_prefix('#') {
            Some(v) => Some(v).filter(|v| !v.is_empty() && !v.starts_with(' ')),
            None => Some(l).filter(|l| l.starts_with('[')),
        })
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(uncommented.lines().count() >= 20, "{uncommented}");
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("example.toml");
    std::fs::write(&file, uncommented).expect("write");
    let file_arg = file.display().to_string();
    let out = run(&["--config", &file_arg, "migrate", "--database-url", "sqlite::memory:"], &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn a_bad_environment_variable_is_named_as_itself() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("tessera.toml");
    std::fs::write(&file, "issuer = \"from-file\"\n").expect("write");
    let file_arg = file.display().to_string();
    for args in [vec!["serve"], vec!["--config", file_arg.as_str(), "serve"]] {
        let out = run(&args, &[("TESSERA_TOKEN_TTL", "5")]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?}");
        assert!(stderr.contains("environment variable TESSERA_TOKEN_TTL"), "{args:?}: {stderr}");
        assert!(!stderr.contains("config file") && !stderr.contains("`issuer`"), "{args:?}: {stderr}");
    }
    // The same value given as a flag is the flag's, and the file's bad value the file's.
    let out = run(&["serve", "--token-ttl", "5"], &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--token-ttl") && !stderr.contains("environment"), "{stderr}");
    std::fs::write(&file, "token_ttl = 5\n").expect("write");
    let out = run(&["--config", &file_arg, "serve"], &[("TESSERA_ISSUER", "from-env")]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("`token_ttl`") && !stderr.contains("TESSERA_ISSUER"), "{stderr}");
}

#[test]
fn every_command_and_option_has_help_with_its_environment_variable() {
    let commands: &[&[&str]] = &[
        &[],
        &["serve"],
        &["migrate"],
        &["backup"],
        &["restore"],
        &["client", "create"],
        &["client", "rename"],
        &["key", "create"],
        &["key", "list"],
        &["key", "revoke"],
        &["signing-key", "rotate"],
        &["signing-key", "list"],
        &["signing-key", "export-secret"],
        &["connector", "revoke"],
        &["token", "verify"],
        &["config", "example"],
        &["completions"],
        &["man"],
    ];
    for cmd in commands {
        let mut args = cmd.to_vec();
        args.push("--help");
        let out = run(&args, &[]);
        assert!(out.status.success(), "{args:?}");
        let text = String::from_utf8(out.stdout).expect("utf8");
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let t = line.trim_start();
            if t.starts_with("--") || (t.starts_with('-') && t.len() > 1 && t.as_bytes()[1] != b'-') {
                let same_line = t.split("  ").filter(|p| !p.trim().is_empty()).count() >= 2;
                let next_line = lines.get(i + 1).is_some_and(|n| n.starts_with("          ") && !n.trim().is_empty());
                let described = same_line || next_line;
                assert!(described, "{args:?}: option {t:?} has no description");
            }
        }
        if cmd == &["serve"] {
            for flag in [
                "--bind",
                "--database-url",
                "--token-ttl",
                "--kek",
                "--algorithm",
                "--shutdown-grace",
                "--metrics-token",
            ] {
                let i = lines.iter().position(|l| l.trim_start().starts_with(flag)).expect("listed");
                let text = format!("{} {}", lines[i], lines[i + 1]);
                assert!(text.contains("[env: TESSERA_"), "{flag} names its environment variable");
            }
            assert!(text.contains("RUST_LOG"), "serve --help says how to set the log level");
        }
    }
}

both_backends!(
    metrics_count_requests_tokens_and_failures,
    sigterm_under_load_finishes_answered_requests_and_exits_zero
);

/// Every subcommand, as a path of names (`["signing-key", "rotate"]`).
fn subcommand_paths(cmd: &clap::Command, prefix: &[String], out: &mut Vec<Vec<String>>) {
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        let mut path = prefix.to_vec();
        path.push(sub.get_name().to_owned());
        out.push(path.clone());
        subcommand_paths(sub, &path, out);
    }
}

#[test]
fn completions_and_the_manual_name_every_command() {
    use clap::CommandFactory as _;
    let mut paths = Vec::new();
    subcommand_paths(&tessera::cli::Cli::command(), &[], &mut paths);
    assert!(paths.len() >= 20, "{paths:?}");
    for shell in ["bash", "zsh", "fish"] {
        let out = run(&["completions", shell], &[]);
        assert!(out.status.success(), "{shell}");
        let text = String::from_utf8(out.stdout).expect("utf8");
        for path in &paths {
            let name = path.last().expect("a name");
            assert!(text.contains(name.as_str()), "{shell} completes {path:?}");
        }
        assert!(text.contains("database-url") && text.contains("token-ttl"), "{shell} completes options");
    }
    let out = run(&["man"], &[]);
    assert!(out.status.success());
    let man = String::from_utf8(out.stdout).expect("utf8");
    assert!(man.starts_with(".ie") || man.contains(".TH tessera 1"), "roff");
    for path in &paths {
        let heading = format!(".SH \"TESSERA {}\"", path.join(" ").to_uppercase());
        assert!(man.contains(&heading), "the manual has {heading}");
    }
    assert!(man.contains("token\\-ttl"), "the manual lists serve's options");
}

#[test]
fn version_names_the_release_and_its_commit() {
    let out = run(&["--version"], &[]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).expect("utf8");
    let expected_start = format!("tessera {} (commit ", env!("CARGO_PKG_VERSION"));
    let commit = text.trim().strip_prefix(&expected_start).and_then(|r| r.strip_suffix(')')).expect(&text);
    assert!(commit == "unknown" || (commit.len() >= 7 && commit.bytes().all(|b| b.is_ascii_hexdigit())), "{text}");
    assert_eq!(commit, tessera::cli::COMMIT);
    // Built from a git checkout, it names that checkout's commit (or one just before it).
    if let Ok(git) = Command::new("git").args(["rev-parse", "--short", "HEAD"]).output()
        && git.status.success()
    {
        assert_ne!(commit, "unknown", "git is here, so the commit is known");
    }
}
