//! PostgreSQL going away under load, against a private PostgreSQL this test starts and stops
//! itself (never the shared one): answers are 503 with a detail, never a hang or a 500;
//! readiness follows the database; service resumes without a restart; and no token was
//! handed out whose issuance record is missing.
#[path = "support/mod.rs"]
mod support;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use support::server::{create_connection, jti_of, start};
use support::{Backend, TestDb};
use tessera::domain::ids::TokenId;

/// A throwaway PostgreSQL cluster in a temporary directory, on its own port.
struct PrivatePostgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    /// initdb refuses to run as root: then the cluster runs as the `postgres` user.
    run_as_postgres: bool,
}

impl PrivatePostgres {
    fn create() -> Option<Self> {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()
            .and_then(|d| d.filter_map(Result::ok).map(|e| e.path().join("bin")).find(|p| p.join("initdb").exists()));
        let Some(bin) = bin else {
            if support::must_run_everything() {
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
        let port = std::net::TcpListener::bind("127.0.0.1:0").expect("port").local_addr().expect("addr").port();
        let pg = PrivatePostgres { dir, bin, port, run_as_postgres };
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
        let opts =
            format!("-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off", self.port, self.dir.path().display());
        let log = self.dir.path().join("log").display().to_string();
        self.run("pg_ctl", &["-D", &self.data(), "-o", &opts, "-l", &log, "-w", "start"]);
    }

    fn stop(&self) {
        self.run("pg_ctl", &["-D", &self.data(), "-m", "immediate", "-w", "stop"]);
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn losing_postgres_mid_load_gives_503s_and_service_resumes_by_itself() {
    let Some(pg) = PrivatePostgres::create() else {
        return;
    };
    // A TestDb supplies the process environment; its URL is pointed at the private cluster.
    let Some(mut db) = TestDb::new(Backend::Postgres).await else {
        return;
    };
    db.url = pg.url();
    let server = start(&db, &["--db-timeout", "2", "--db-pool-size", "4"]);
    let key = server.bootstrap_key.clone().expect("bootstrapped");
    // Every request is bounded: a hang fails the test instead of stalling it.
    let http = reqwest::Client::builder().timeout(Duration::from_secs(20)).build().expect("client");
    let conn = create_connection(&http, &server.base, &key).await;
    let url = format!("{}/connections/{conn}/token", server.base);
    let ready = |http: reqwest::Client, base: String| async move {
        http.get(format!("{base}/readyz")).send().await.expect("readyz answers").status()
    };
    assert_eq!(ready(http.clone(), server.base.clone()).await, StatusCode::OK);

    let mint = |http: reqwest::Client, url: String, key: String| async move {
        let r = http
            .post(url)
            .header("x-api-key", key)
            .json(&json!({"scope": "access"}))
            .send()
            .await
            .expect("answered in time");
        let status = r.status();
        (status, r.json::<Value>().await.unwrap_or(Value::Null))
    };
    let mut tokens = Vec::new();
    let record = |status: StatusCode, body: &Value, tokens: &mut Vec<String>| {
        assert_ne!(status, StatusCode::INTERNAL_SERVER_ERROR, "never a 500: {body}");
        if status == StatusCode::CREATED {
            tokens.push(body["connection_token"].as_str().expect("token").to_owned());
        } else {
            assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
            assert!(body["detail"].as_str().expect("detail").contains("database"), "{body}");
        }
    };

    // Load in flight while the database dies.
    let load: Vec<_> = (0..40).map(|_| tokio::spawn(mint(http.clone(), url.clone(), key.clone()))).collect();
    pg.stop();
    for t in load {
        let (status, body) = t.await.expect("joined");
        record(status, &body, &mut tokens);
    }
    // With the database gone: 503s, and not ready.
    let mut unavailable = 0;
    for _ in 0..5 {
        let (status, body) = mint(http.clone(), url.clone(), key.clone()).await;
        record(status, &body, &mut tokens);
        if status == StatusCode::SERVICE_UNAVAILABLE {
            unavailable += 1;
        }
    }
    assert_eq!(unavailable, 5, "every request while the database is down is a 503");
    assert_eq!(ready(http.clone(), server.base.clone()).await, StatusCode::SERVICE_UNAVAILABLE);

    // The database returns; the same process serves again without a restart.
    pg.start();
    let mut resumed = false;
    for _ in 0..60 {
        if ready(http.clone(), server.base.clone()).await == StatusCode::OK {
            resumed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(resumed, "ready again once the database is back");
    let (status, body) = mint(http.clone(), url.clone(), key.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    tokens.push(body["connection_token"].as_str().expect("token").to_owned());

    // Every token that was handed out has its issuance record.
    let store = tessera::storage::connect(&pg.url()).await.expect("store");
    for t in &tokens {
        let jti = jti_of(t);
        assert!(store.find_issued_token(&TokenId::from_string(jti.clone())).await.expect("query").is_some(), "{jti}");
    }
}
