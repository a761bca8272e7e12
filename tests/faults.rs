//! PostgreSQL going away under load, against a private PostgreSQL this test starts and stops
//! itself (never the shared one), in two ways: shut down (connections refused) and stalled
//! (its processes stopped with SIGSTOP, so it accepts bytes and never answers). Answers are
//! 503 with a detail, never a hang or a 500; a stalled database turns into 503 within
//! `--db-timeout`; readiness follows the database; service resumes without a restart; and no
//! token was handed out whose issuance record is missing.
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::server::{create_connection, jti_of, start};
use crate::support::{Backend, TestDb};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tessera::domain::ids::TokenId;

/// A throwaway PostgreSQL cluster in a temporary directory, reached through a Unix socket in
/// that directory (so it needs no free TCP port, and cannot meet another test's cluster).
struct PrivatePostgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    /// initdb refuses to run as root: then the cluster runs as the `postgres` user.
    run_as_postgres: bool,
}

impl PrivatePostgres {
    fn create() -> Option<Self> {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()
            .and_then(|d| d.filter_map(Result::ok).map(|e| e.path().join("bin")).find(|p| p.join("initdb").exists()));
        let Some(bin) = bin else {
            if crate::support::must_run_everything() {
                panic!("no PostgreSQL server binaries under /usr/lib/postgresql and CI is set");
            }
            eprintln!("SKIPPED: no PostgreSQL server binaries under /usr/lib/postgresql");
            return None;
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let run_as_postgres =
            Command::new("id").arg("-u").output().map(|o| o.stdout.trim_ascii() == b"0").unwrap_or(false);
        if run_as_postgres {
            let status =
                Command::new("chown").args(["-R", "postgres:postgres"]).arg(dir.path()).status().expect("chown");
            assert!(status.success());
        }
        let pg = PrivatePostgres { dir, bin, run_as_postgres };
        let data = pg.data();
        pg.run("initdb", &["-D", &data, "-U", "postgres", "--auth=trust", "--no-sync"]);
        pg.start();
        Some(pg)
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    fn run(&self, tool: &str, args: &[&str]) {
        let exe = self.bin.join(tool);
        let mut cmd = if self.run_as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&exe);
            c
        } else {
            Command::new(&exe)
        };
        let out = cmd.args(args).output().expect("runs");
        assert!(out.status.success(), "{tool} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }

    fn start(&self) {
        let opts = format!("-p {PORT} -k {} -c listen_addresses='' -c fsync=off", self.dir.path().display());
        let log = self.dir.path().join("log").display().to_string();
        self.run("pg_ctl", &["-D", &self.data(), "-o", &opts, "-l", &log, "-w", "start"]);
    }

    fn stop(&self) {
        self.run("pg_ctl", &["-D", &self.data(), "-m", "immediate", "-w", "stop"]);
    }

    fn url(&self) -> String {
        format!("postgres://postgres@localhost/postgres?host={}&port={PORT}", self.dir.path().display())
    }

    /// The postmaster and every process it started (backends and background workers).
    fn processes(&self) -> Vec<String> {
        let pid_file = std::fs::read_to_string(self.dir.path().join("data/postmaster.pid")).expect("postmaster.pid");
        let postmaster = pid_file.lines().next().expect("pid line").trim().to_owned();
        let mut pids = vec![postmaster.clone()];
        for entry in std::fs::read_dir("/proc").expect("/proc").filter_map(Result::ok) {
            let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
            // pid (comm) state ppid ...: the command name may hold spaces, so split after it.
            let ppid = stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().nth(1));
            if ppid == Some(postmaster.as_str()) {
                pids.push(entry.file_name().to_string_lossy().into_owned());
            }
        }
        pids
    }

    /// Sends `signal` to `pids`; a process that has just exited is no failure.
    fn signal(&self, signal: &str, pids: &[String]) -> bool {
        let mut cmd = Command::new("kill");
        cmd.arg(format!("-{signal}")).args(pids).stderr(std::process::Stdio::null());
        cmd.status().expect("kill").success()
    }

    /// Freezes the cluster: it keeps its sockets, takes connections and bytes, and answers
    /// nothing. The postmaster is stopped first, so it starts no process after the list is made.
    fn stall(&self) {
        let pids = self.processes();
        assert!(self.signal("STOP", &pids[..1]), "the postmaster is stopped");
        self.signal("STOP", &self.processes());
    }

    fn resume(&self) {
        self.signal("CONT", &self.processes());
    }
}

/// The socket's port number (only its name: the socket lives in the cluster's own directory).
const PORT: u16 = 5432;

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        // A test that failed while the cluster was stalled must not leave it frozen.
        if self.dir.path().join("data/postmaster.pid").exists() {
            self.resume();
        }
        let data = self.data();
        let exe = self.bin.join("pg_ctl");
        let mut cmd = if self.run_as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(exe);
            c
        } else {
            Command::new(exe)
        };
        let _ = cmd.args(["-D", &data, "-m", "immediate", "stop"]).output();
    }
}

/// One token request of the load: when it was sent and answered, and what came back.
struct Outcome {
    sent: Instant,
    answered: Instant,
    status: StatusCode,
    body: Value,
}

/// A server on a private cluster, with a connection to mint tokens for.
struct Setup {
    pg: PrivatePostgres,
    server: crate::support::server::Server,
    key: String,
    http: reqwest::Client,
    url: String,
    _db: TestDb,
}

const DB_TIMEOUT_SECS: u64 = 2;

async fn setup() -> Option<Setup> {
    let pg = PrivatePostgres::create()?;
    // A TestDb supplies the process environment; its URL is pointed at the private cluster.
    let mut db = TestDb::new(Backend::Postgres).await?;
    db.url = pg.url();
    let server = start(&db, &["--db-timeout", &DB_TIMEOUT_SECS.to_string(), "--db-pool-size", "4"]);
    let key = server.bootstrap_key.clone().expect("bootstrapped");
    // Every request is bounded: a hang fails the test instead of stalling it.
    let http = reqwest::Client::builder().timeout(Duration::from_secs(20)).build().expect("client");
    let conn = create_connection(&http, &server.base, &key).await;
    let url = format!("{}/connections/{conn}/token", server.base);
    let setup = Setup { pg, server, key, http, url, _db: db };
    assert_eq!(setup.ready().await, StatusCode::OK);
    Some(setup)
}

impl Setup {
    async fn ready(&self) -> StatusCode {
        self.http.get(format!("{}/readyz", self.server.base)).send().await.expect("readyz answers").status()
    }

    async fn mint(&self) -> (StatusCode, Value) {
        let r = self
            .http
            .post(&self.url)
            .header("x-api-key", &self.key)
            .json(&json!({"scope": "access"}))
            .send()
            .await
            .expect("answered in time");
        let status = r.status();
        (status, r.json::<Value>().await.unwrap_or(Value::Null))
    }

    /// Lanes of back-to-back token requests until `stop` is set.
    fn load(
        self: &Arc<Self>,
        lanes: usize,
        stop: &Arc<AtomicBool>,
    ) -> (Arc<Mutex<Vec<Outcome>>>, Vec<tokio::task::JoinHandle<()>>) {
        let outcomes = Arc::new(Mutex::new(Vec::new()));
        let tasks = (0..lanes)
            .map(|_| {
                let (setup, stop, outcomes) = (self.clone(), stop.clone(), outcomes.clone());
                tokio::spawn(async move {
                    while !stop.load(Ordering::SeqCst) {
                        let sent = Instant::now();
                        let (status, body) = setup.mint().await;
                        let answered = Instant::now();
                        outcomes.lock().expect("lock").push(Outcome { sent, answered, status, body });
                    }
                })
            })
            .collect();
        (outcomes, tasks)
    }

    /// Waits (up to 60 s) until `enough` holds of the outcomes so far.
    async fn until(outcomes: &Mutex<Vec<Outcome>>, what: &str, enough: impl Fn(&[Outcome]) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !enough(&outcomes.lock().expect("lock")) {
            assert!(Instant::now() < deadline, "waited a minute for {what}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Service comes back by itself: ready again, and a token is minted.
    async fn resumes(&self, tokens: &mut Vec<String>) {
        let mut resumed = false;
        for _ in 0..60 {
            if self.ready().await == StatusCode::OK {
                resumed = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        assert!(resumed, "ready again once the database is back");
        let (status, body) = self.mint().await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        tokens.push(body["connection_token"].as_str().expect("token").to_owned());
    }

    /// Every token that was handed out has its issuance record.
    async fn every_token_is_recorded(&self, tokens: &[String]) {
        let store = tessera::storage::connect(&self.pg.url()).await.expect("store");
        for t in tokens {
            let jti = jti_of(t);
            let found = store.find_issued_token(&TokenId::from_string(jti.clone())).await.expect("query");
            assert!(found.is_some(), "{jti}");
        }
    }
}

/// A 201 with a token, or a 503 that says the database is the cause; never a 500.
fn check(status: StatusCode, body: &Value, tokens: &mut Vec<String>) {
    assert_ne!(status, StatusCode::INTERNAL_SERVER_ERROR, "never a 500: {body}");
    if status == StatusCode::CREATED {
        tokens.push(body["connection_token"].as_str().expect("token").to_owned());
    } else {
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert!(body["detail"].as_str().expect("detail").contains("database"), "{body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn losing_postgres_mid_load_gives_503s_and_service_resumes_by_itself() {
    let Some(setup) = setup().await else {
        return;
    };
    let setup = Arc::new(setup);
    let stop = Arc::new(AtomicBool::new(false));
    let (outcomes, lanes) = setup.load(4, &stop);
    Setup::until(&outcomes, "tokens before the outage", |o| {
        o.iter().filter(|o| o.status == StatusCode::CREATED).count() >= 10
    })
    .await;

    // The database shuts down under the load.
    let going_down = Instant::now();
    let pg = setup.clone();
    tokio::task::spawn_blocking(move || pg.pg.stop()).await.expect("stopped");
    let down = Instant::now();
    Setup::until(&outcomes, "503s during the outage", |o| o.iter().filter(|o| o.sent > down).count() >= 8).await;
    // With the database gone: not ready.
    assert_eq!(setup.ready().await, StatusCode::SERVICE_UNAVAILABLE);
    stop.store(true, Ordering::SeqCst);
    for lane in lanes {
        lane.await.expect("lane");
    }

    let outcomes = std::mem::take(&mut *outcomes.lock().expect("lock"));
    let mut tokens = Vec::new();
    for o in &outcomes {
        check(o.status, &o.body, &mut tokens);
    }
    // The load overlapped the outage: requests were in flight as it began, and every request
    // sent while the database was down was answered 503.
    let across = outcomes.iter().filter(|o| o.sent < going_down && o.answered > going_down).count();
    assert!(across > 0, "no request was in flight as the database went down");
    let during: Vec<_> = outcomes.iter().filter(|o| o.sent > down).collect();
    assert!(during.len() >= 8);
    assert!(
        during.iter().all(|o| o.status == StatusCode::SERVICE_UNAVAILABLE),
        "every request sent while the database is down is a 503"
    );

    // The database returns; the same process serves again without a restart.
    setup.pg.start();
    setup.resumes(&mut tokens).await;
    setup.every_token_is_recorded(&tokens).await;
}

/// A database that stops answering (it keeps its connections and takes bytes, but replies
/// to nothing) turns each request into a 503 within `--db-timeout`: a bound on a hang, so
/// the margin is generous. Measured with a 2 s timeout: other requests answer in 2 s, token
/// requests in up to 4 s (the group commit waits out the timeout once for the batch, and a
/// request that found it busy waits for its own batch next).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_postgres_gives_503s_within_the_db_timeout_and_service_resumes() {
    let Some(setup) = setup().await else {
        return;
    };
    let bound = Duration::from_secs(DB_TIMEOUT_SECS + 3);
    let mut tokens = Vec::new();
    for _ in 0..3 {
        let (status, body) = setup.mint().await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        check(status, &body, &mut tokens);
    }

    setup.pg.stall();
    // Token requests one after another, and two at once (one of them queued behind the
    // other's group commit), then readiness and a request that is not a token request.
    for _ in 0..2 {
        let sent = Instant::now();
        let (status, body) = setup.mint().await;
        check(status, &body, &mut tokens);
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "a stalled database is a 503: {body}");
        assert!(sent.elapsed() <= bound, "a token request took {:?}", sent.elapsed());
    }
    let sent = Instant::now();
    let (first, second) = tokio::join!(setup.mint(), setup.mint());
    for (status, body) in [first, second] {
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "a stalled database is a 503: {body}");
    }
    assert!(sent.elapsed() <= bound, "two token requests took {:?}", sent.elapsed());
    for path in ["/readyz", "/connections?customer_id=c"] {
        let sent = Instant::now();
        let r = setup
            .http
            .get(format!("{}{path}", setup.server.base))
            .header("x-api-key", &setup.key)
            .send()
            .await
            .expect("answered");
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE, "{path} while the database is stalled");
        assert!(sent.elapsed() <= bound, "{path} took {:?}", sent.elapsed());
    }
    setup.pg.resume();

    setup.resumes(&mut tokens).await;
    setup.every_token_is_recorded(&tokens).await;
}

/// The same bound for a request whose statement is already running when the database stops
/// answering: here a token request waits on a row lock the test holds, and the cluster is
/// stalled while it waits. PostgreSQL's own statement and lock timeouts cannot fire in a
/// stalled server: tessera's limit on every storage call does (`storage/timed.rs`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_in_flight_when_postgres_stalls_still_ends_in_a_503_within_the_db_timeout() {
    use sqlx::Connection as _;
    let Some(setup) = setup().await else {
        return;
    };
    let bound = Duration::from_secs(DB_TIMEOUT_SECS + 3);
    let conn = setup.url.rsplit('/').nth(1).expect("connection id").to_owned();
    let mut holder = sqlx::PgConnection::connect(&setup.pg.url()).await.expect("connects");
    sqlx::query("BEGIN").execute(&mut holder).await.expect("begin");
    sqlx::query("SELECT 1 FROM connections WHERE id = $1 FOR UPDATE")
        .bind(&conn)
        .execute(&mut holder)
        .await
        .expect("row locked");
    let waiting = {
        let setup = Arc::new(setup);
        let minting = setup.clone();
        let sent = Instant::now();
        let request = tokio::spawn(async move { (minting.mint().await, sent.elapsed()) });
        // Stall as soon as the token statement waits on the lock (well within lock_timeout).
        let deadline = Instant::now() + Duration::from_secs(DB_TIMEOUT_SECS);
        loop {
            let n: i64 = sqlx::query_scalar("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'")
                .fetch_one(&mut holder)
                .await
                .expect("activity");
            if n > 0 {
                break;
            }
            assert!(Instant::now() < deadline, "the token request never waited on the lock");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        setup.pg.stall();
        (setup, request)
    };
    let (setup, request) = waiting;
    let outcome = tokio::time::timeout(bound + Duration::from_secs(5), request).await;
    setup.pg.resume();
    let ((status, body), took) = outcome.expect("the token request ended").expect("joined");
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(took <= bound, "the token request took {took:?}");
    sqlx::query("ROLLBACK").execute(&mut holder).await.expect("rollback");
    setup.resumes(&mut Vec::new()).await;
}
