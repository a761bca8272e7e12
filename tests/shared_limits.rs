//! Rate limits that hold across replicas: three real `tessera serve` processes on one
//! PostgreSQL database sharing a real Redis (`redis-server`, started here on a port of its
//! own). One key's requests, failed authentications from one address, and sign-in guesses at
//! one operator are each sent at three times their limit, spread evenly over the replicas:
//! what is let through is the limit of the deployment, not three times it. Then the store is
//! stopped in the middle of a run and started again.
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;

use crate::support::server::{Server, cli_json, create_connection, start};
use crate::support::{Backend, TestDb, must_run_everything};

/// A `redis-server` on a free port, without persistence, stopped when dropped.
struct Redis {
    child: Child,
    port: u16,
}

impl Redis {
    /// `None` (the test is skipped) when no `redis-server` is installed, outside CI.
    fn start(port: u16) -> Option<Redis> {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let child = match child {
            Ok(c) => c,
            Err(e) if !must_run_everything() => {
                eprintln!("SKIPPED: redis-server cannot be started ({e}); install Debian's redis-server");
                return None;
            }
            Err(e) => panic!("redis-server cannot be started under CI: {e}"),
        };
        let until = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < until, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(Redis { child, port })
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("a port").local_addr().expect("addr").port()
}

/// Three replicas on `db` with limits of 10 requests a second (burst 10) per key and 2
/// failed authentications a second (burst 5) per address, sharing `redis`.
fn replicas(db: &TestDb, redis: &str, prefix: &str) -> Vec<Server> {
    let flags = [
        "--rate-limit",
        "10",
        "--rate-burst",
        "10",
        "--auth-failure-rate",
        "2",
        "--auth-failure-burst",
        "5",
        "--rate-limit-store",
        redis,
        "--rate-limit-store-prefix",
        prefix,
    ];
    (0..3).map(|_| start(db, &flags)).collect()
}

/// Sends `per_sec` requests a second for `secs` seconds, the n-th to replica n mod 3, each
/// built by `req`; returns every status.
async fn spread(
    bases: &[String],
    per_sec: u32,
    secs: u64,
    req: impl Fn(&reqwest::Client, &str) -> reqwest::RequestBuilder,
) -> Vec<StatusCode> {
    let http = reqwest::Client::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1) / per_sec);
    let mut sent = Vec::new();
    for n in 0..(u64::from(per_sec) * secs) {
        tick.tick().await;
        let base = &bases[usize::try_from(n % 3).expect("small")];
        let r = req(&http, base);
        sent.push(tokio::spawn(async move { r.send().await.expect("answered").status() }));
    }
    let mut out = Vec::new();
    for s in sent {
        out.push(s.await.expect("request task"));
    }
    out
}

fn count(statuses: &[StatusCode], status: StatusCode) -> usize {
    statuses.iter().filter(|s| **s == status).count()
}

/// Within 10% of `expected`.
fn near(got: usize, expected: f64, what: &str) {
    #[expect(clippy::cast_precision_loss, reason = "a few hundred")]
    let got_f = got as f64;
    assert!(
        (got_f - expected).abs() <= expected * 0.1,
        "{what}: {got} let through, the deployment's limit is {expected}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_hold_across_three_replicas() {
    let Some(db) = TestDb::new(Backend::Postgres).await else { return };
    let Some(redis) = Redis::start(free_port()) else { return };
    let servers = replicas(&db, &redis.url(), "limits-test");
    let bases: Vec<String> = servers.iter().map(|s| s.base.clone()).collect();
    let key = servers.iter().find_map(|s| s.bootstrap_key.clone()).expect("one replica bootstrapped");
    cli_json(&db, &["operator", "create", "ops", "--json"]);
    let http = reqwest::Client::new();
    let conn = create_connection(&http, &bases[0], &key).await;
    let mint = |http: &reqwest::Client, base: &str| {
        http.post(format!("{base}/connections/{conn}/token"))
            .header("x-api-key", &key)
            .json(&json!({"scope": "access"}))
    };
    // Each replica has seen the key work (so it is not held back by its address below).
    for base in &bases {
        assert_eq!(mint(&http, base).send().await.expect("answered").status(), StatusCode::CREATED);
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;

    // Ten seconds, at three times each limit, all at once: a key's requests (10/s, burst 10),
    // failed authentications from this address (2/s, burst 5), and guesses at one operator's
    // password (0.1/s, burst 10).
    let bad = |http: &reqwest::Client, base: &str| {
        http.post(format!("{base}/connections/{conn}/token"))
            .header("x-api-key", "tsk_01J00000000000000000000000_not-a-real-key-at-all")
            .json(&json!({"scope": "access"}))
    };
    let guess = |http: &reqwest::Client, base: &str| {
        http.post(format!("{base}/console/sign-in"))
            .header("origin", base)
            .form(&[("name", "ops"), ("password", "not the password, again")])
    };
    let (minted, failed, guessed) =
        tokio::join!(spread(&bases, 30, 10, mint), spread(&bases, 6, 10, bad), spread(&bases, 3, 10, guess));
    assert!(minted.iter().chain(&failed).chain(&guessed).all(|s| !s.is_server_error()), "no 5xx");
    near(count(&minted, StatusCode::CREATED), 10.0 * 10.0 + 10.0, "one key's requests");
    assert_eq!(count(&minted, StatusCode::CREATED) + count(&minted, StatusCode::TOO_MANY_REQUESTS), minted.len());
    near(count(&failed, StatusCode::UNAUTHORIZED), 2.0 * 10.0 + 5.0, "failed authentications from one address");
    let refused_guesses = count(&guessed, StatusCode::TOO_MANY_REQUESTS);
    near(guessed.len() - refused_guesses, 0.1 * 10.0 + 10.0, "guesses at one operator");

    // The store stops in the middle of a run: nothing fails, each replica limits on its own,
    // and once it is back the limits are shared again by themselves.
    let port = redis.port;
    let outage = async {
        tokio::time::sleep(Duration::from_secs(2)).await;
        drop(redis);
        tokio::time::sleep(Duration::from_secs(2)).await;
        Redis::start(port).expect("started again")
    };
    let (during, redis) = tokio::join!(spread(&bases, 30, 6, mint), outage);
    assert!(during.iter().all(|s| *s == StatusCode::CREATED || *s == StatusCode::TOO_MANY_REQUESTS), "{during:?}");
    let metrics = http.get(format!("{}/metrics", bases[0])).send().await.expect("metrics").text().await.expect("text");
    let fallbacks = metrics
        .lines()
        .find_map(|l| l.strip_prefix("tessera_rate_limit_store_fallbacks_total "))
        .and_then(|v| v.parse::<u64>().ok())
        .expect("the fallback counter");
    assert!(fallbacks > 0, "decided without the store while it was gone: {metrics}");
    // Back: a burst sent at once to the three replicas gets the deployment's burst.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let at_once: Vec<_> = (0..60).map(|n| mint(&http, &bases[n % 3]).send()).collect();
    let mut through = 0;
    for r in futures_join(at_once).await {
        through += usize::from(r.expect("answered").status() == StatusCode::CREATED);
    }
    assert!((10..=14).contains(&through), "shared again after the store came back: {through} of 60 let through");
    let metrics = http.get(format!("{}/metrics", bases[0])).send().await.expect("metrics").text().await.expect("text");
    assert!(metrics.contains("tessera_rate_limit_store_up 1"), "{metrics}");
    drop(redis);
}

/// The store's count of script runs: one per round trip a replica made for a limit.
async fn script_runs(redis: &Redis) -> u64 {
    let client = redis::Client::open(redis.url()).expect("a Redis URL");
    let mut conn = client.get_multiplexed_async_connection().await.expect("connected to redis-server");
    let info: String = redis::cmd("INFO").arg("commandstats").query_async(&mut conn).await.expect("INFO");
    info.lines()
        .filter(|l| l.starts_with("cmdstat_evalsha:") || l.starts_with("cmdstat_eval:"))
        .filter_map(|l| l.split_once("calls=").and_then(|(_, rest)| rest.split(',').next()?.parse::<u64>().ok()))
        .sum()
}

/// A busy key under a faster limit (100 a second, burst 100): each replica takes a lease of
/// several requests per round trip, so below the limit there are far fewer round trips than
/// requests, and at three times the limit what is let through is still the deployment's limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leases_cut_round_trips_and_keep_the_deployment_limit() {
    let Some(db) = TestDb::new(Backend::Postgres).await else { return };
    let Some(redis) = Redis::start(free_port()) else { return };
    let flags = ["--rate-limit", "100", "--rate-burst", "100", "--rate-limit-store", &redis.url()];
    let servers: Vec<Server> = (0..3).map(|_| start(&db, &flags)).collect();
    let bases: Vec<String> = servers.iter().map(|s| s.base.clone()).collect();
    let key = servers.iter().find_map(|s| s.bootstrap_key.clone()).expect("one replica bootstrapped");
    let http = reqwest::Client::new();
    let conn = create_connection(&http, &bases[0], &key).await;
    let read =
        |http: &reqwest::Client, base: &str| http.get(format!("{base}/connections/{conn}")).header("x-api-key", &key);
    tokio::time::sleep(Duration::from_millis(1500)).await;

    // Half the limit for three seconds: everything passes, in about a fifth of the round trips
    // (a lease is five requests here).
    let before = script_runs(&redis).await;
    let calm = spread(&bases, 50, 3, read).await;
    let trips = script_runs(&redis).await - before;
    eprintln!("below the limit: {trips} round trips for {} requests", calm.len());
    assert_eq!(count(&calm, StatusCode::OK), calm.len(), "below the limit nothing is refused");
    assert!(trips * 3 <= 150, "{trips} round trips for 150 requests: leases were not used");

    // Three times the limit for six seconds: the deployment's limit, within 10%.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let busy = spread(&bases, 300, 6, read).await;
    assert!(busy.iter().all(|s| *s == StatusCode::OK || *s == StatusCode::TOO_MANY_REQUESTS), "no 5xx");
    eprintln!("at three times the limit: {} of {} let through (limit 700)", count(&busy, StatusCode::OK), busy.len());
    near(count(&busy, StatusCode::OK), 100.0 * 6.0 + 100.0, "one busy key's requests");
}

/// Every future, run at once; their outputs in order.
async fn futures_join<F: std::future::Future + Send + 'static>(futures: Vec<F>) -> Vec<F::Output>
where
    F::Output: Send + 'static,
{
    let tasks: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.expect("task"));
    }
    out
}

/// With the store unreachable from the start, `open` (the default) limits per process and
/// `closed` refuses what is limited; neither answers a 5xx, and `/readyz` stays ready.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_store_fails_open_by_default_and_closed_when_asked() {
    let db = TestDb::new(Backend::Sqlite).await.expect("sqlite");
    let nobody = format!("redis://127.0.0.1:{}", free_port());
    let http = reqwest::Client::new();
    let mut key: Option<String> = None;
    for (mode, expected) in [("open", StatusCode::OK), ("closed", StatusCode::TOO_MANY_REQUESTS)] {
        let server = start(&db, &["--rate-limit-store", &nobody, "--rate-limit-store-down", mode]);
        // The first start made the default client's key; the second reuses it.
        let key = key.get_or_insert_with(|| server.bootstrap_key.clone().expect("the first start's key")).clone();
        let r = http.get(format!("{}/connections?customer_id=x", server.base)).header("x-api-key", &key).send().await;
        assert_eq!(r.expect("answered").status(), expected, "--rate-limit-store-down {mode}");
        let ready = http.get(format!("{}/readyz", server.base)).send().await.expect("answered");
        assert_eq!(ready.status(), StatusCode::OK, "readiness does not depend on the limiter's store ({mode})");
        let metrics = http.get(format!("{}/metrics", server.base)).send().await.expect("metrics");
        let text = metrics.text().await.expect("text");
        assert!(text.contains("tessera_rate_limit_store_up 0"), "{text}");
    }
}
