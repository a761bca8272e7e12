//! Backups that are tested: a backup taken under token load, restored to a new place and
//! served from there, gives back every token acknowledged before it began. SQLite through
//! `tessera backup` / `tessera restore`; PostgreSQL through `pg_dump` / `pg_restore`.
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::server::{BIN, Server, cli, create_connection, start};
use crate::support::{Backend, TestDb, must_run_everything};

/// Tokens minted and acknowledged, each with the moment its answer arrived.
type Acked = Arc<Mutex<Vec<(Instant, String)>>>;

/// Mints tokens from `workers` concurrent clients until `stop` is set.
fn token_load(
    base: &str,
    key: &str,
    conn: &str,
    workers: usize,
    stop: &Arc<AtomicBool>,
    acked: &Acked,
) -> Vec<tokio::task::JoinHandle<()>> {
    (0..workers)
        .map(|_| {
            let (http, url, key, stop, acked) = (
                reqwest::Client::new(),
                format!("{base}/connections/{conn}/token"),
                key.to_owned(),
                stop.clone(),
                acked.clone(),
            );
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let r = http.post(&url).header("x-api-key", &key).json(&json!({"scope": "access"})).send().await;
                    let Ok(r) = r else { continue };
                    if r.status() != 201 {
                        continue;
                    }
                    let body: Value = r.json().await.expect("json");
                    let token = body["connection_token"].as_str().expect("token").to_owned();
                    acked.lock().expect("lock").push((Instant::now(), token));
                }
            })
        })
        .collect()
}

/// Runs the load, calls `take_backup` in the middle of it (on a thread of its own, while the
/// load goes on), and returns the tokens acknowledged before the backup began.
async fn backup_under_load(server: &Server, key: &str, take_backup: impl FnOnce() + Send + 'static) -> Vec<String> {
    let http = reqwest::Client::new();
    let conn = create_connection(&http, &server.base, key).await;
    let stop = Arc::new(AtomicBool::new(false));
    let acked: Acked = Arc::default();
    let workers = token_load(&server.base, key, &conn, 4, &stop, &acked);
    // Some load first, so that the backup starts in the middle of it.
    while acked.lock().expect("lock").len() < 200 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let began = Instant::now();
    let during = acked.lock().expect("lock").len();
    tokio::task::spawn_blocking(take_backup).await.expect("backup ran");
    let after = acked.lock().expect("lock").len();
    assert!(after > during, "tokens were minted while the backup ran ({during} before, {after} after)");
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.await.expect("worker");
    }
    let acked = acked.lock().expect("lock");
    acked.iter().filter(|(at, _)| *at < began).map(|(_, t)| t.clone()).collect()
}

/// Every token is active when introspected at `base`.
async fn all_active(base: &str, key: &str, tokens: &[String]) {
    let http = reqwest::Client::new();
    let mut inactive = 0;
    for chunk in tokens.chunks(16) {
        let mut set = tokio::task::JoinSet::new();
        for t in chunk {
            let (http, url, key, t) = (http.clone(), format!("{base}/tokens/introspect"), key.to_owned(), t.clone());
            set.spawn(async move {
                let r = http.post(url).header("x-api-key", key).json(&json!({"token": t})).send().await.expect("sent");
                assert_eq!(r.status(), 200);
                r.json::<Value>().await.expect("json")["active"] == json!(true)
            });
        }
        while let Some(active) = set.join_next().await {
            if !active.expect("introspection") {
                inactive += 1;
            }
        }
    }
    assert_eq!(inactive, 0, "{inactive} of {} tokens acknowledged before the backup are not active", tokens.len());
}

async fn integrity_check(url: &str) -> Vec<String> {
    use sqlx::Connection as _;
    let opts = sqlx::sqlite::SqliteConnectOptions::new().filename(url.trim_start_matches("sqlite://")).read_only(true);
    let mut c = sqlx::SqliteConnection::connect_with(&opts).await.expect("open the restored file");
    sqlx::query_scalar("PRAGMA integrity_check").fetch_all(&mut c).await.expect("integrity check")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_backup_under_load_restores_every_token_acknowledged_before_it() {
    let db = TestDb::new(Backend::Sqlite).await.expect("sqlite");
    let server = start(&db, &[]);
    let key = server.bootstrap_key.clone().expect("bootstrap key");
    let backup_file = db.dir().join("backups/tessera-backup.db");
    let (env, to) = (db.env(), backup_file.clone());
    let acked = backup_under_load(&server, &key, move || {
        let out = std::process::Command::new(BIN)
            .arg("backup")
            .arg(&to)
            .env_remove("TESSERA_KEK")
            .envs(env)
            .output()
            .expect("backup runs");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "backup failed: {}", String::from_utf8_lossy(&out.stderr));
        // The reminder: what to keep with the backup, and what is lost without it.
        assert!(stdout.contains("tessera.db.kek") && stdout.contains("signing keys"), "{stdout}");
    })
    .await;
    assert!(acked.len() >= 200, "{}", acked.len());
    drop(server);
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&backup_file).expect("backup").permissions().mode();
        assert_eq!(mode & 0o077, 0, "the backup is readable by its owner only: {mode:o}");
    }

    // Restored to a new place, with the KEK it was made under, and served from there.
    let restored = TestDb::new(Backend::Sqlite).await.expect("sqlite");
    let (ok, stdout, stderr) = cli(&restored, &["restore", backup_file.to_str().expect("path")]);
    assert!(ok, "restore failed: {stderr}");
    assert!(stdout.contains("integrity check ok") && stdout.contains(".kek"), "{stdout}");
    let kek = |d: &TestDb| d.dir().join("tessera.db.kek");
    std::fs::copy(kek(&db), kek(&restored)).expect("the KEK goes with the backup");
    let server = start(&restored, &[]);
    assert!(server.bootstrap_key.is_none(), "the restored database has its clients already");
    all_active(&server.base, &key, &acked).await;
    drop(server);
    assert_eq!(integrity_check(&restored.url).await, ["ok"]);

    // Restoring over a database is refused; the first restore is untouched.
    let (ok, _, stderr) = cli(&restored, &["restore", backup_file.to_str().expect("path")]);
    assert!(!ok && stderr.contains("exists already"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_refuses_a_backup_made_by_a_newer_tessera() {
    use sqlx::Connection as _;
    let db = TestDb::new(Backend::Sqlite).await.expect("sqlite");
    let (ok, _, stderr) = cli(&db, &["migrate"]);
    assert!(ok, "{stderr}");
    let backup_file = db.dir().join("newer.db");
    let (ok, _, stderr) = cli(&db, &["backup", backup_file.to_str().expect("path")]);
    assert!(ok, "{stderr}");
    // What a newer release's migration leaves in its backups.
    let opts = sqlx::sqlite::SqliteConnectOptions::new().filename(&backup_file);
    let mut c = sqlx::SqliteConnection::connect_with(&opts).await.expect("open the backup");
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (29991231000099, 'from the future', 1, x'00', 0)",
    )
    .execute(&mut c)
    .await
    .expect("a newer migration");
    c.close().await.expect("closed");

    let target = TestDb::new(Backend::Sqlite).await.expect("sqlite");
    let (ok, _, stderr) = cli(&target, &["restore", backup_file.to_str().expect("path")]);
    assert!(!ok, "a newer backup is refused");
    assert!(stderr.contains("29991231000099") && stderr.contains("newer tessera"), "{stderr}");
    assert!(!target.dir().join("tessera.db").metadata().is_ok_and(|m| m.len() > 0), "nothing was restored");

    // A damaged backup: a page in the middle overwritten.
    let damaged = db.dir().join("damaged.db");
    let (ok, _, stderr) = cli(&db, &["backup", damaged.to_str().expect("path")]);
    assert!(ok, "{stderr}");
    {
        use std::io::{Seek as _, SeekFrom, Write as _};
        let mut f = std::fs::OpenOptions::new().write(true).open(&damaged).expect("open the copy");
        let len = f.metadata().expect("meta").len();
        f.seek(SeekFrom::Start(len / 2 / 4096 * 4096)).expect("seek");
        f.write_all(&[0xA5; 4096]).expect("damage");
    }
    let (ok, _, stderr) = cli(&target, &["restore", damaged.to_str().expect("path")]);
    assert!(!ok && (stderr.contains("integrity check") || stderr.contains("malformed")), "{stderr}");
    assert!(!target.dir().join("tessera.db").metadata().is_ok_and(|m| m.len() > 0), "nothing was restored");

    // Not a tessera database at all.
    let other = db.dir().join("other.db");
    let mut c = sqlx::SqliteConnection::connect_with(
        &sqlx::sqlite::SqliteConnectOptions::new().filename(&other).create_if_missing(true),
    )
    .await
    .expect("create");
    sqlx::query("CREATE TABLE t (x)").execute(&mut c).await.expect("table");
    c.close().await.expect("closed");
    let (ok, _, stderr) = cli(&target, &["restore", other.to_str().expect("path")]);
    assert!(!ok && stderr.contains("not a tessera database"), "{stderr}");
}

#[test]
fn postgres_backups_are_pointed_at_pg_dump_and_the_kek() {
    for command in ["backup", "restore"] {
        let out = std::process::Command::new(BIN)
            .args([command, "/nonexistent/tessera-backup.db"])
            .env("TESSERA_DATABASE_URL", "postgres://postgres@127.0.0.1:1/none")
            .output()
            .expect("runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && stderr.contains("pg_dump") && stderr.contains("TESSERA_KEK"), "{stderr}");
    }
    // The help of both commands says what to keep and what is lost without it.
    for command in ["backup", "restore"] {
        let out = std::process::Command::new(BIN).args([command, "--help"]).output().expect("runs");
        let help = String::from_utf8_lossy(&out.stdout);
        for needed in ["TESSERA_KEK", ".kek", "signing keys", "webhook", "pg_dump"] {
            assert!(help.contains(needed), "{command} --help lacks {needed:?}: {help}");
        }
    }
}

/// Whether `tool` runs; outside CI its absence skips the test, under CI it fails it.
fn have(tool: &str) -> bool {
    let found = std::process::Command::new(tool).arg("--version").output().is_ok_and(|o| o.status.success());
    if !found {
        assert!(!must_run_everything(), "{tool} is not installed and CI is set (apt-get install postgresql-client)");
        eprintln!("SKIPPED: {tool} is not installed (apt-get install postgresql-client)");
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pg_dump_under_load_restores_every_token_acknowledged_before_it() {
    let Some(db) = TestDb::new(Backend::Postgres).await else { return };
    if !have("pg_dump") || !have("pg_restore") {
        return;
    }
    let server = start(&db, &[]);
    let key = server.bootstrap_key.clone().expect("bootstrap key");
    let dump = db.dir().join("tessera.dump");
    let (url, to) = (db.url.clone(), dump.clone());
    let acked = backup_under_load(&server, &key, move || {
        let out = std::process::Command::new("pg_dump")
            .args(["--format=custom", "--no-owner", "--file"])
            .arg(&to)
            .arg(&url)
            .output()
            .expect("pg_dump runs");
        assert!(out.status.success(), "pg_dump failed: {}", String::from_utf8_lossy(&out.stderr));
    })
    .await;
    drop(server);

    let restored = TestDb::new(Backend::Postgres).await.expect("postgres");
    let out = std::process::Command::new("pg_restore")
        .args(["--no-owner", "--exit-on-error", "--dbname", &restored.url])
        .arg(&dump)
        .output()
        .expect("pg_restore runs");
    assert!(out.status.success(), "pg_restore failed: {}", String::from_utf8_lossy(&out.stderr));
    // The same TESSERA_KEK (TestDb::env gives every PostgreSQL process the same one).
    let server = start(&restored, &[]);
    assert!(server.bootstrap_key.is_none(), "the restored database has its clients already");
    all_active(&server.base, &key, &acked).await;
}
