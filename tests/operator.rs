//! The operator's everyday workflow, in the order the manual gives it: `tessera serve` runs
//! under token load while every CLI command that touches the database runs against the same
//! database, again and again. Nothing the server answered may be lost, a key the CLI creates
//! works at once, a key it revokes is refused at once, and (SQLite) the server's files stay
//! its own: no descriptor of the server may point to a deleted log, and the file stays sound.
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::sync::Mutex;

use crate::support::server::{cli, cli_json, create_connection, start};
use crate::support::{Backend, TestDb};

/// One answered token request.
struct Answer {
    sent: Instant,
    status: u16,
    token: Option<String>,
}

/// Mints with `key` from `workers` tasks until `stop` is set, keeping every answer.
fn load(
    http: &reqwest::Client,
    url: String,
    key: String,
    workers: usize,
    stop: Arc<AtomicBool>,
) -> (Arc<Mutex<Vec<Answer>>>, Vec<tokio::task::JoinHandle<()>>) {
    let answers = Arc::new(Mutex::new(Vec::new()));
    let tasks = (0..workers)
        .map(|_| {
            let (http, url, key, stop, answers) =
                (http.clone(), url.clone(), key.clone(), stop.clone(), answers.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let sent = Instant::now();
                    let resp = http.post(&url).header("x-api-key", &key).json(&json!({"scope": "access"})).send().await;
                    let resp = resp.expect("the server answers every request");
                    let status = resp.status().as_u16();
                    let body: Value = resp.json().await.expect("a JSON answer");
                    let token = body["connection_token"].as_str().map(str::to_owned);
                    answers.lock().await.push(Answer { sent, status, token });
                }
            })
        })
        .collect();
    (answers, tasks)
}

/// The server's descriptors that point to a deleted file (Linux).
fn deleted_descriptors(pid: u32) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(format!("/proc/{pid}/fd")) else { return Vec::new() };
    entries
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .map(|target| target.display().to_string())
        .filter(|target| target.ends_with(" (deleted)"))
        .collect()
}

async fn cli_commands_against_a_live_server_under_load_lose_nothing(db: TestDb) {
    // Limits out of the way: the revoked key's refusals must not make its address wait.
    let limits = ["--auth-failure-rate", "100000", "--auth-failure-burst", "100000", "--rate-burst", "100000"];
    let mut server = start(&db, &limits);
    let pid = server.child.id();
    let key = server.bootstrap_key.clone().expect("bootstrap key printed");
    let http = reqwest::Client::new();
    let conn = create_connection(&http, &server.base, &key).await;
    let url = format!("{}/connections/{conn}/token", server.base);
    let clients = cli_json(&db, &["client", "list", "--json"]);
    let client_id = clients[0]["client_id"].as_str().expect("the default client").to_owned();

    let stop = Arc::new(AtomicBool::new(false));
    let (answers, workers) = load(&http, url.clone(), key.clone(), 4, stop.clone());
    let check_files = |step: &str| {
        if db.backend == Backend::Sqlite {
            let deleted = deleted_descriptors(pid);
            assert!(deleted.is_empty(), "after {step}, the server holds deleted files: {deleted:?}");
        }
    };

    for round in 0..3 {
        // Every command that touches the database, as an operator would type them.
        let made = cli_json(&db, &["client", "create", "--name", &format!("tenant-{round}"), "--json"]);
        check_files("client create");
        let listed = cli_json(&db, &["client", "list", "--json"]);
        assert!(listed.to_string().contains(made["client_id"].as_str().expect("id")));
        check_files("client list");

        let created = cli_json(&db, &["key", "create", "--client", &client_id, "--json"]);
        check_files("key create");
        let new_key = created["api_key"].as_str().expect("api_key").to_owned();
        let new_key_id = created["key_id"].as_str().expect("key_id").to_owned();
        let first = http.post(&url).header("x-api-key", &new_key).json(&json!({"scope": "access"})).send().await;
        assert_eq!(first.expect("answered").status(), 201, "round {round}: a key made by the CLI works at once");

        // The new key mints from its own workers while it is revoked.
        let new_stop = Arc::new(AtomicBool::new(false));
        let (new_answers, new_workers) = load(&http, url.clone(), new_key.clone(), 2, new_stop.clone());
        tokio::time::sleep(Duration::from_millis(200)).await;
        let listed = cli_json(&db, &["key", "list", "--client", &client_id, "--json"]);
        assert!(listed.to_string().contains(&new_key_id));
        check_files("key list");
        let revoked = cli_json(&db, &["key", "revoke", &new_key_id, "--json"]);
        let revoke_returned = Instant::now();
        assert!(revoked["revoked_at"].is_i64());
        check_files("key revoke");
        tokio::time::sleep(Duration::from_millis(300)).await;
        new_stop.store(true, Ordering::Relaxed);
        for w in new_workers {
            w.await.expect("worker");
        }
        let new_answers = new_answers.lock().await;
        let before = new_answers.iter().filter(|a| a.sent < revoke_returned && a.status == 201).count();
        let after: Vec<u16> = new_answers.iter().filter(|a| a.sent >= revoke_returned).map(|a| a.status).collect();
        assert!(before > 0, "round {round}: the new key minted before its revocation");
        assert!(!after.is_empty(), "round {round}: requests were sent after the revocation");
        assert!(
            after.iter().all(|s| *s == 401),
            "round {round}: a request sent after `key revoke` returned was not refused: {:?}",
            after.iter().filter(|s| **s != 401).collect::<Vec<_>>()
        );

        let keys = cli_json(&db, &["signing-key", "list", "--json"]);
        assert!(!keys.as_array().expect("keys").is_empty());
        check_files("signing-key list");
        let rotate: &[&str] = if round == 0 { &["--json"] } else { &["--immediately", "--json"] };
        let args: Vec<&str> = ["signing-key", "rotate"].iter().chain(rotate).copied().collect();
        cli_json(&db, &args);
        check_files("signing-key rotate");
        let (ok, _, stderr) = cli(&db, &["migrate"]);
        assert!(ok, "migrate: {stderr}");
        check_files("migrate");
    }

    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.await.expect("worker");
    }
    let answers = answers.lock().await;
    let minted: Vec<&str> = answers.iter().filter_map(|a| a.token.as_deref()).collect();
    let failed: Vec<u16> = answers.iter().map(|a| a.status).filter(|s| *s != 201).collect();
    assert!(failed.is_empty(), "the default key's requests all succeed throughout: {failed:?}");
    assert!(minted.len() > 50, "the load ran alongside the commands ({} tokens)", minted.len());
    check_files("the whole session");

    // The server dies without warning; every token it answered is on disk.
    server.child.kill().expect("SIGKILL");
    server.child.wait().expect("reaped");
    if db.backend == Backend::Sqlite {
        use sqlx::Connection as _;
        let mut conn = sqlx::SqliteConnection::connect(&db.url).await.expect("open");
        let check: String = sqlx::query_scalar("PRAGMA integrity_check").fetch_one(&mut conn).await.expect("check");
        assert_eq!(check, "ok");
    }
    let restarted = start(&db, &[]);
    assert!(restarted.bootstrap_key.is_none());
    for token in minted {
        let r: Value = http
            .post(format!("{}/tokens/introspect", restarted.base))
            .header("x-api-key", &key)
            .json(&json!({"token": token}))
            .send()
            .await
            .expect("sent")
            .json()
            .await
            .expect("json");
        assert_eq!(r["active"], true, "an answered token is recorded after a restart: {r}");
    }
}

async fn administrative_commands_refuse_a_database_that_does_not_exist(db: TestDb) {
    let missing = match db.backend {
        Backend::Sqlite => format!("sqlite://{}", db.dir().join("typo").join("tesera.db").display()),
        // An existing database that tessera never migrated: as good as missing.
        Backend::Postgres => db.url.clone(),
    };
    let env = [("TESSERA_DATABASE_URL", missing.as_str())];
    for args in [
        &["client", "list"][..],
        &["client", "create", "--name", "x"],
        &["key", "list", "--client", "c"],
        &["signing-key", "list"],
        &["signing-key", "rotate"],
    ] {
        let out = std::process::Command::new(crate::support::server::BIN)
            .args(args)
            .env_remove("TESSERA_KEK")
            .envs(db.env())
            .envs(env)
            .output()
            .expect("runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} must fail on a missing database");
        assert!(stderr.contains("database"), "{args:?}: {stderr}");
    }
    if db.backend == Backend::Sqlite {
        assert!(!db.dir().join("typo").exists(), "nothing was created");
    }
    // `migrate` may create it; then the same commands work.
    let (ok, _, stderr) = cli(&db, &["migrate"]);
    assert!(ok, "{stderr}");
    let (ok, _, stderr) = cli(&db, &["client", "list"]);
    assert!(ok, "{stderr}");
}

/// No live token is readable at rest: a token answered under an idempotency key is kept
/// (to replay it) only sealed, and a SQLite database's files are readable by their owner alone.
async fn no_live_token_is_readable_at_rest(db: TestDb) {
    let server = start(&db, &[]);
    let key = server.bootstrap_key.clone().expect("key");
    let http = reqwest::Client::new();
    let conn = create_connection(&http, &server.base, &key).await;
    let mint = || {
        http.post(format!("{}/connections/{conn}/token", server.base))
            .header("x-api-key", &key)
            .header("idempotency-key", "retry-me")
            .json(&json!({"scope": "access"}))
            .send()
    };
    let first: Value = mint().await.expect("sent").json().await.expect("json");
    let token = first["connection_token"].as_str().expect("token").to_owned();
    let again: Value = mint().await.expect("sent").json().await.expect("json");
    assert_eq!(again["connection_token"], token.as_str(), "the retry replays the sealed answer");
    let signature = token.rsplit('.').next().expect("signature").to_owned();
    let payload = token.split('.').nth(1).expect("payload").to_owned();

    match db.backend {
        Backend::Sqlite => {
            use std::os::unix::fs::PermissionsExt as _;
            let mut names = Vec::new();
            for entry in std::fs::read_dir(db.dir()).expect("dir") {
                let path = entry.expect("entry").path();
                let name = path.file_name().expect("name").to_string_lossy().into_owned();
                let mode = std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
                assert_eq!(mode, 0o600, "{name} is readable by its owner only");
                let bytes = std::fs::read(&path).expect("read");
                let text = String::from_utf8_lossy(&bytes);
                assert!(!text.contains(&signature) && !text.contains(&payload), "{name} holds the token");
                names.push(name);
            }
            names.sort();
            for expected in ["tessera.db", "tessera.db-shm", "tessera.db-wal", "tessera.db.kek", "tessera.db.lock"] {
                assert!(names.iter().any(|n| n == expected), "{expected} in {names:?}");
            }
        }
        Backend::Postgres => {
            use sqlx::Connection as _;
            let mut c = sqlx::PgConnection::connect(&db.url).await.expect("connect");
            let stored: Vec<String> =
                sqlx::query_scalar("SELECT response FROM idempotency_keys").fetch_all(&mut c).await.expect("rows");
            assert_eq!(stored.len(), 1);
            assert!(!stored[0].contains(&signature) && !stored[0].contains(&payload), "the answer is sealed");
        }
    }
}

/// A first start that cannot listen creates no key it would never print: the next start
/// creates the default client and prints its key.
async fn a_start_that_cannot_listen_does_not_swallow_the_first_key(db: TestDb) {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port().to_string();
    let out = std::process::Command::new(crate::support::server::BIN)
        .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
        .env_remove("TESSERA_KEK")
        .envs(db.env())
        .output()
        .expect("runs");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot listen"));
    assert!(!String::from_utf8_lossy(&out.stdout).contains("tsk_"));
    if db.backend == crate::support::Backend::Sqlite {
        let left: Vec<_> =
            std::fs::read_dir(db.dir()).expect("dir").filter_map(Result::ok).map(|e| e.file_name()).collect();
        assert!(left.is_empty(), "a start that cannot listen creates no database or key file: {left:?}");
    }
    let server = start(&db, &[]);
    assert!(server.bootstrap_key.is_some(), "the start that listens creates and prints the first key");
}

/// `signing-key rotate` with a key-encryption key other than the deployment's is refused
/// before it writes anything: its key would be one no server can read.
async fn rotating_with_the_wrong_key_encryption_key_is_refused(db: TestDb) {
    drop(start(&db, &[]));
    let before = cli_json(&db, &["signing-key", "list", "--json"]);
    let wrong = "d3JvbmctZGVwbG95bWVudC1rZWstMzItYnl0ZXMtISE=";
    for extra in [&[][..], &["--immediately"]] {
        let out = std::process::Command::new(crate::support::server::BIN)
            .args(["signing-key", "rotate"])
            .args(extra)
            .env_remove("TESSERA_KEK")
            .envs(db.env())
            .env("TESSERA_KEK", wrong)
            .output()
            .expect("runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{extra:?}");
        assert!(stderr.contains("key-encryption key"), "{stderr}");
        assert!(!stderr.contains(wrong), "the key is never echoed");
    }
    assert_eq!(cli_json(&db, &["signing-key", "list", "--json"]), before, "nothing was written");
}

both_backends!(
    cli_commands_against_a_live_server_under_load_lose_nothing,
    administrative_commands_refuse_a_database_that_does_not_exist,
    no_live_token_is_readable_at_rest,
    a_start_that_cannot_listen_does_not_swallow_the_first_key,
    rotating_with_the_wrong_key_encryption_key_is_refused,
);
