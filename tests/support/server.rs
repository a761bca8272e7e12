//! Running the real `tessera` binary in tests: start a server, run the CLI.
use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use serde_json::{Value, json};

use super::TestDb;

pub const BIN: &str = env!("CARGO_BIN_EXE_tessera");

/// The database timeout, in seconds, of the servers and stores tests start.
pub const TEST_DB_TIMEOUT: &str = "20";

pub fn db_url(dir: &Path) -> String {
    format!("sqlite://{}", dir.join("tessera.db").display())
}

pub struct Server {
    pub child: Child,
    pub base: String,
    /// The metrics listener's base URL, when `--metrics-bind` gave it one of its own.
    pub metrics_base: Option<String>,
    /// The API key this start created at bootstrap, if it did (read from the file it names).
    pub bootstrap_key: Option<String>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn start(db: &TestDb, extra: &[&str]) -> Server {
    start_with(db, extra, &[], Stdio::null())
}

/// `tessera serve` with extra flags and environment, its log going to `stderr`.
pub fn start_with(db: &TestDb, extra: &[&str], env: &[(&str, &str)], stderr: Stdio) -> Server {
    let mut child = Command::new(BIN)
        .args(["serve", "--bind", "127.0.0.1:0"])
        .args(extra)
        .env_remove("TESSERA_KEK")
        .envs(db.env())
        // Two cores shared by every suite: a generous database timeout keeps a slow moment
        // from turning into a 503 (tests of the timeout itself set their own).
        .env("TESSERA_DB_TIMEOUT", TEST_DB_TIMEOUT)
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .expect("tessera starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut bootstrap_key = None;
    let mut base = None;
    let mut metrics_base = None;
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("line");
        let trimmed = line.trim();
        if let Some(key) = first_key_in(trimmed) {
            bootstrap_key = Some(key);
        }
        if let Some(addr) = trimmed.strip_prefix("tessera metrics listening on ") {
            metrics_base = Some(addr.to_owned());
        }
        if let Some(addr) = trimmed.strip_prefix("tessera listening on ") {
            base = Some(addr.to_owned());
            break;
        }
    }
    Server { child, base: base.expect("server announced its address"), metrics_base, bootstrap_key }
}

/// The line `serve` prints when, its standard output not being a terminal, it wrote the first
/// API key to a file.
pub const FIRST_KEY_LINE: &str = "tessera wrote the first API key to ";

/// The first API key, read from the file a line of `serve`'s output names.
pub fn first_key_in(line: &str) -> Option<String> {
    let path = line.trim().strip_prefix(FIRST_KEY_LINE)?;
    let key = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("the first key file {path}: {e}"));
    Some(key.trim().to_owned())
}

pub fn cli(db: &TestDb, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .env_remove("TESSERA_KEK")
        .envs(db.env())
        .env("TESSERA_DB_TIMEOUT", TEST_DB_TIMEOUT)
        .output()
        .expect("runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

pub fn cli_json(db: &TestDb, args: &[&str]) -> Value {
    let (ok, stdout, stderr) = cli(db, args);
    assert!(ok, "{args:?} failed: {stderr}");
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{args:?} printed {stdout:?}: {e}"))
}

pub async fn create_connection(http: &reqwest::Client, base: &str, key: &str) -> String {
    let r = http
        .post(format!("{base}/connections"))
        .header("x-api-key", key)
        .json(&json!({"customer_id": "c", "retailer_id": "walmart"}))
        .send()
        .await
        .expect("sent");
    assert_eq!(r.status(), 201);
    r.json::<Value>().await.expect("json")["connection_id"].as_str().expect("id").to_owned()
}

pub fn jti_of(token: &str) -> String {
    use base64::Engine as _;
    let payload = token.split('.').nth(1).expect("payload");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).expect("b64");
    serde_json::from_slice::<Value>(&bytes).expect("json")["jti"].as_str().expect("jti").to_owned()
}
