//! A full disk under the embedded default: the database on a real, small tmpfs that the test
//! fills and then empties. While it is full every write is `503` naming the disk and readiness
//! fails; nothing acknowledged before is lost; the moment space is back writes succeed again,
//! without a restart (no pooled connection is left inside a failed transaction).
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::server::{create_connection, jti_of, start};
use crate::support::{Backend, TestDb};

/// A tmpfs of `size` mounted on a fresh directory, unmounted when dropped.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    /// `None` (skipped) where this process cannot mount, unless CI requires every suite.
    fn mount(size: &str) -> Option<Self> {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size},mode=0700"), "tmpfs"])
            .arg(dir.path())
            .output();
        match out {
            Ok(out) if out.status.success() => Some(Self { dir }),
            other => {
                let why = match other {
                    Ok(out) => String::from_utf8_lossy(&out.stderr).into_owned(),
                    Err(e) => e.to_string(),
                };
                if crate::support::must_run_everything() {
                    panic!("cannot mount a tmpfs for the disk-full test and CI is set (run as root): {why}");
                }
                eprintln!("SKIPPED: cannot mount a tmpfs (run as root for the disk-full test): {why}");
                None
            }
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes a file until the file system refuses (`ENOSPC`); returns its path.
    fn fill(&self) -> PathBuf {
        let path = self.path().join("filler");
        let mut f = std::fs::File::create(&path).expect("filler");
        let chunk = vec![0xa5u8; 64 * 1024];
        loop {
            match f.write(&chunk) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.raw_os_error() == Some(28) => break,
                Err(e) => panic!("filling the disk: {e}"),
            }
        }
        // Whatever the last partial write left: byte by byte until nothing fits.
        while f.write(&[0]).is_ok_and(|n| n == 1) {}
        path
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(self.dir.path()).status();
    }
}

struct Api {
    http: reqwest::Client,
    base: String,
    key: String,
}

impl Api {
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.http.request(method, format!("{}{path}", self.base)).header("x-api-key", &self.key);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        let r = req.send().await.expect("answered in time");
        let status = r.status();
        (status, r.json::<Value>().await.unwrap_or(Value::Null))
    }

    async fn create(&self) -> (StatusCode, Value) {
        let body = json!({"customer_id": "c-".repeat(30), "retailer_id": "walmart", "email": "e".repeat(60)});
        self.send(reqwest::Method::POST, "/connections", &[], Some(body)).await
    }

    async fn mint(&self, conn: &str, idempotency_key: Option<&str>) -> (StatusCode, Value) {
        let headers: Vec<(&str, &str)> = idempotency_key.map(|k| ("idempotency-key", k)).into_iter().collect();
        self.send(
            reqwest::Method::POST,
            &format!("/connections/{conn}/token"),
            &headers,
            Some(json!({"scope": "access"})),
        )
        .await
    }

    async fn ready(&self) -> (StatusCode, Value) {
        self.send(reqwest::Method::GET, "/readyz", &[], None).await
    }
}

fn says_disk_full(status: StatusCode, body: &Value) -> bool {
    status == StatusCode::SERVICE_UNAVAILABLE && body["detail"].as_str().is_some_and(|d| d.contains("disk is full"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_is_503_and_writes_resume_when_space_is_back() {
    let Some(disk) = SmallDisk::mount("24m") else { return };
    let mut db = TestDb::new(Backend::Sqlite).await.expect("sqlite");
    db.url = format!("sqlite://{}", disk.path().join("tessera.db").display());
    let server = start(&db, &["--db-timeout", "5"]);
    let api = Api {
        http: reqwest::Client::builder().timeout(Duration::from_secs(30)).build().expect("client"),
        base: server.base.clone(),
        key: server.bootstrap_key.clone().expect("bootstrapped"),
    };
    let conn = create_connection(&api.http, &api.base, &api.key).await;
    assert_eq!(api.ready().await.0, StatusCode::OK);

    // Tokens acknowledged before and while the disk fills.
    let mut acknowledged = Vec::new();
    for _ in 0..20 {
        let (status, body) = api.mint(&conn, None).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        acknowledged.push(body["connection_token"].as_str().expect("token").to_owned());
    }
    let (status, first) = api.mint(&conn, Some("before")).await;
    assert_eq!(status, StatusCode::CREATED);

    let filler = disk.fill();

    // Writes go on until the log has no room left; then each is a 503 naming the disk, never
    // a 500. Every answer along the way is a success or that 503.
    let mut full_create = None;
    for _ in 0..20_000 {
        let (status, body) = api.create().await;
        if status == StatusCode::CREATED {
            continue;
        }
        assert!(says_disk_full(status, &body), "a write on a full disk: {status} {body}");
        full_create = Some(body);
        break;
    }
    assert!(full_create.is_some(), "the disk never filled up");
    let mut full_mint = None;
    for _ in 0..20_000 {
        let (status, body) = api.mint(&conn, None).await;
        if status == StatusCode::CREATED {
            acknowledged.push(body["connection_token"].as_str().expect("token").to_owned());
            continue;
        }
        assert!(says_disk_full(status, &body), "a token on a full disk: {status} {body}");
        full_mint = Some(body);
        break;
    }
    assert!(full_mint.is_some(), "tokens never stopped");
    let (status, body) = api.mint(&conn, Some("during")).await;
    assert!(says_disk_full(status, &body), "an idempotent mint on a full disk: {status} {body}");
    let (status, body) = api.create().await;
    assert!(says_disk_full(status, &body), "still full: {status} {body}");

    // Readiness says so, within a few seconds.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (status, body) = api.ready().await;
        if says_disk_full(status, &body) {
            break;
        }
        assert!(Instant::now() < deadline, "readiness never reported the full disk: {status} {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Space is back: writes succeed at once, on every route, without a restart.
    std::fs::remove_file(&filler).expect("free the space");
    let (status, body) = api.create().await;
    assert_eq!(status, StatusCode::CREATED, "a write as soon as space is back: {body}");
    for _ in 0..20 {
        assert_eq!(api.create().await.0, StatusCode::CREATED);
        let (status, body) = api.mint(&conn, None).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        acknowledged.push(body["connection_token"].as_str().expect("token").to_owned());
    }
    // The retry of the request refused while full is answered now; the one before is replayed.
    let (status, body) = api.mint(&conn, Some("during")).await;
    assert_eq!(status, StatusCode::CREATED, "the idempotent retry after the disk-full refusal: {body}");
    let (status, again) = api.mint(&conn, Some("during")).await;
    assert_eq!((status, &again), (StatusCode::CREATED, &body), "and it is replayed");
    let (status, replay) = api.mint(&conn, Some("before")).await;
    assert_eq!((status, &replay), (StatusCode::CREATED, &first), "the key answered before the disk filled");

    // Readiness recovers with it.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, body) = api.ready().await;
        if status == StatusCode::OK {
            break;
        }
        assert!(Instant::now() < deadline, "readiness did not recover: {status} {body}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Nothing acknowledged was lost.
    for token in &acknowledged {
        let (status, body) =
            api.send(reqwest::Method::POST, "/tokens/introspect", &[], Some(json!({"token": token}))).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["active"], true, "token {} was acknowledged and must be live", jti_of(token));
    }
    drop(server);
}
