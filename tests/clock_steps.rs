//! The real binary with its clock stepped under it (libfaketime, rewriting one file while the
//! server runs): a step of an hour back or forward, held half a second under concurrent
//! minting, leaves no token dead on arrival or dated ahead, no key activated early and no
//! record dated ahead; minting resumes by itself; restarts serve at once; and a server started
//! an hour slow and then set right serves again without a restart.
//!
//! Needs Debian's `faketime` package: skipped without it, failing under CI.
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::Connection as _;

use crate::support::server::{Server, cli_json, create_connection, start_with};
use crate::support::{Backend, TestDb, must_run_everything};

const TTL: i64 = 900;

fn libfaketime() -> Option<PathBuf> {
    let found = ["x86_64-linux-gnu", "aarch64-linux-gnu", "i386-linux-gnu"]
        .iter()
        .map(|arch| PathBuf::from(format!("/usr/lib/{arch}/faketime/libfaketimeMT.so.1")))
        .find(|p| p.exists());
    if found.is_none() {
        assert!(!must_run_everything(), "libfaketime is missing (apt-get install faketime) and CI is set");
        eprintln!("SKIPPED: libfaketime is missing (apt-get install faketime)");
    }
    found
}

fn real_now_ms() -> i64 {
    i64::try_from(SystemTime::now().duration_since(UNIX_EPOCH).expect("after 1970").as_millis()).expect("fits")
}

/// A server whose system clock is the real one plus the offset written in `offset_file`.
struct Faked {
    lib: PathBuf,
    offset_file: PathBuf,
    log: PathBuf,
}

impl Faked {
    fn new(db: &TestDb, lib: PathBuf) -> Self {
        let f = Self { lib, offset_file: db.dir().join("faketime"), log: db.dir().join("server.log") };
        f.set(0);
        f
    }

    /// Steps the server's clock to the real time plus `secs`, at once.
    fn set(&self, secs: i64) {
        let tmp = self.offset_file.with_extension("tmp");
        std::fs::write(&tmp, format!("{secs:+}\n")).expect("write the offset");
        std::fs::rename(&tmp, &self.offset_file).expect("replace the offset");
    }

    fn start(&self, db: &TestDb) -> Server {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.log).expect("log file");
        let lib = self.lib.display().to_string();
        let file = self.offset_file.display().to_string();
        start_with(
            db,
            &["--clock-max-skew", "5", "--key-refresh", "1", "--rate-limit", "1000000", "--rate-burst", "1000000"],
            &[
                ("LD_PRELOAD", lib.as_str()),
                ("FAKETIME_TIMESTAMP_FILE", file.as_str()),
                ("FAKETIME_NO_CACHE", "1"),
                ("FAKETIME_DONT_FAKE_MONOTONIC", "1"),
                ("RUST_LOG", "info"),
            ],
            Stdio::from(log),
        )
    }
}

/// One answer to a token request, with the real time it arrived.
struct Outcome {
    status: StatusCode,
    token: Option<String>,
    at_ms: i64,
}

struct Minting {
    http: reqwest::Client,
    url: String,
    key: String,
}

impl Minting {
    async fn once(&self) -> Outcome {
        let r = self
            .http
            .post(&self.url)
            .header("x-api-key", &self.key)
            .json(&json!({"scope": "access"}))
            .send()
            .await
            .expect("answered");
        let status = r.status();
        let body: Value = r.json().await.unwrap_or(Value::Null);
        Outcome { status, token: body["connection_token"].as_str().map(str::to_owned), at_ms: real_now_ms() }
    }

    /// Mints until `until` returns true for the outcome, for at most `within`.
    async fn until(&self, within: Duration, until: impl Fn(&Outcome) -> bool) -> Outcome {
        let deadline = Instant::now() + within;
        loop {
            let o = self.once().await;
            if until(&o) {
                return o;
            }
            assert!(Instant::now() < deadline, "still {} after {within:?}", o.status);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn claims(token: &str) -> Value {
    use base64::Engine as _;
    let payload = token.split('.').nth(1).expect("payload");
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).expect("b64"))
        .expect("json")
}

/// Every token answered is alive when it arrives and not dated ahead of the real time.
fn check_tokens(outcomes: &[Outcome]) -> usize {
    let mut minted = 0;
    for o in outcomes {
        assert!(
            o.status == StatusCode::CREATED || o.status == StatusCode::SERVICE_UNAVAILABLE,
            "unexpected {}",
            o.status
        );
        let Some(token) = &o.token else { continue };
        minted += 1;
        let c = claims(token);
        let (iat, exp) = (c["iat"].as_i64().expect("iat"), c["exp"].as_i64().expect("exp"));
        let now = o.at_ms / 1000;
        assert!(iat <= now + 1, "a token dated ahead: iat {iat}, real time {now}");
        assert!(exp > now, "a token dead on arrival: exp {exp}, real time {now}");
        assert!(iat >= now - 5, "a token dated behind: iat {iat}, real time {now}");
        assert_eq!(exp - iat, TTL);
    }
    minted
}

/// The newest times the database holds: tokens' `issued_at`, their `expires_at`, and the
/// time in the newest token id; and every key's kid, state and activation time.
async fn recorded(db: &TestDb) -> (i64, i64, i64, Vec<(String, String, Option<i64>)>) {
    const TOKENS: &str = "SELECT MAX(issued_at), MAX(expires_at), MAX(jti) FROM issued_tokens";
    const KEYS: &str = "SELECT kid, state, activated_at FROM signing_keys ORDER BY kid";
    macro_rules! read {
        ($conn:ty) => {{
            let mut c = <$conn>::connect(&db.url).await.expect("connects");
            let tokens: (i64, i64, String) = sqlx::query_as(TOKENS).fetch_one(&mut c).await.expect("tokens");
            let keys: Vec<(String, String, Option<i64>)> = sqlx::query_as(KEYS).fetch_all(&mut c).await.expect("keys");
            (tokens, keys)
        }};
    }
    let ((issued, expires, jti), keys) = match db.backend {
        Backend::Sqlite => read!(sqlx::SqliteConnection),
        Backend::Postgres => read!(sqlx::PgConnection),
    };
    let jti_ms = i64::try_from(ulid::Ulid::from_string(&jti).expect("a ULID").timestamp_ms()).expect("fits");
    (issued, expires, jti_ms, keys)
}

async fn stepped_clocks_leave_nothing_behind(db: TestDb) {
    let Some(lib) = libfaketime() else { return };
    let faked = Faked::new(&db, lib);
    let server = faked.start(&db);
    let key = server.bootstrap_key.clone().expect("bootstrapped");
    let http = reqwest::Client::builder().timeout(Duration::from_secs(20)).build().expect("client");
    let conn = create_connection(&http, &server.base, &key).await;
    let minting =
        Arc::new(Minting { http, url: format!("{}/connections/{conn}/token", server.base), key: key.clone() });
    assert_eq!(minting.once().await.status, StatusCode::CREATED);

    // A key published now, due to sign in ten minutes: an hour's step forward would make it due.
    let scheduled = cli_json(&db, &["signing-key", "rotate", "--prepublish", "600", "--json"]);
    let scheduled_kid = scheduled["kid"].as_str().expect("kid").to_owned();
    let (_, _, _, keys_before) = recorded(&db).await;

    // Three lanes of back-to-back token requests while the clock is stepped under them.
    let outcomes = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let lanes: Vec<_> = (0..3)
        .map(|_| {
            let (minting, outcomes, stop) = (minting.clone(), outcomes.clone(), stop.clone());
            tokio::spawn(async move {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let o = minting.once().await;
                    outcomes.lock().expect("outcomes").push(o);
                }
            })
        })
        .collect();
    for step in [-3600, 3600] {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        faked.set(step);
        tokio::time::sleep(Duration::from_millis(500)).await;
        faked.set(0);
        // Minting resumes by itself within a few seconds.
        let after = real_now_ms();
        let resumed = Instant::now() + Duration::from_secs(10);
        loop {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let ok = outcomes.lock().expect("outcomes").iter().any(|o| o.at_ms > after + 200 && o.token.is_some());
            if ok {
                break;
            }
            assert!(Instant::now() < resumed, "minting did not resume within 10 s of a {step} s step ending");
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for lane in lanes {
        lane.await.expect("lane");
    }
    let outcomes = std::mem::take(&mut *outcomes.lock().expect("outcomes"));
    let minted = check_tokens(&outcomes);
    let refused = outcomes.iter().filter(|o| o.status == StatusCode::SERVICE_UNAVAILABLE).count();
    eprintln!("{minted} tokens minted and {refused} refused while the clock was stepped");
    assert!(minted > 20, "{minted} tokens");

    // Nothing in the database is dated ahead, and no key moved.
    let now = real_now_ms();
    let (issued, expires, jti_ms, keys_after) = recorded(&db).await;
    assert!(issued <= now / 1000 + 1, "an issuance record dated ahead: {issued} at {now}");
    assert!(expires <= now / 1000 + TTL + 1, "an expiry dated ahead: {expires} at {now}");
    assert!(jti_ms <= now + 1000, "a token id dated ahead: {jti_ms} at {now}");
    assert_eq!(keys_after, keys_before, "no key was activated or scheduled");
    let next = keys_after.iter().find(|k| k.0 == scheduled_kid).expect("the scheduled key");
    assert_eq!(next.1, "next", "the scheduled key still waits for its time");

    // A restart after the faults serves at once.
    drop(server);
    let server = faked.start(&db);
    let minting = Minting {
        http: minting.http.clone(),
        url: format!("{}/connections/{conn}/token", server.base),
        key: key.clone(),
    };
    let first = minting.once().await;
    assert_eq!(first.status, StatusCode::CREATED, "the first token after a restart");
    check_tokens(&[first]);

    // Started an hour slow (before time sync): refused; set right, served without a restart.
    drop(server);
    faked.set(-3600);
    let server = faked.start(&db);
    let minting = Minting { url: format!("{}/connections/{conn}/token", server.base), ..minting };
    let slow = minting.once().await;
    assert_eq!(slow.status, StatusCode::SERVICE_UNAVAILABLE, "a server started an hour slow signs nothing");
    faked.set(0);
    let served = minting.until(Duration::from_secs(10), |o| o.status == StatusCode::CREATED).await;
    check_tokens(&[served]);
    let (issued, ..) = recorded(&db).await;
    assert!(issued <= real_now_ms() / 1000 + 1);
    drop(server);
    let log = std::fs::read_to_string(&faked.log).expect("log");
    assert!(log.contains("the clock is trusted again"), "each state change is logged:\n{log}");
}

both_backends!(stepped_clocks_leave_nothing_behind);
