//! Running tessera as a service, on a network: the shipped systemd unit, the first start's
//! key file, the admin listener a public main listener sends the console and `/metrics` to,
//! HTTPS with a certificate reloaded without a restart, the key-encryption key read from a
//! file, and the sign-in links `tessera operator` prints.
use std::io::{BufRead as _, BufReader, Read as _};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::support::server::{BIN, FIRST_KEY_LINE, TEST_DB_TIMEOUT, cli_json, create_connection};
use crate::support::{Backend, TestDb, must_run_everything};

/// A `tessera serve` whose output is read up to its listening line, and whose log is
/// collected by a thread (read it with [`Running::log`] once stopped).
struct Running {
    child: Child,
    lines: Vec<String>,
    log: Option<std::thread::JoinHandle<String>>,
}

impl Running {
    fn start(db: &TestDb, args: &[&str], env: &[(&str, &str)]) -> Running {
        let mut child = Command::new(BIN)
            .arg("serve")
            .args(args)
            .env_remove("TESSERA_KEK")
            .env_remove("TESSERA_FIRST_KEY_FILE")
            .env_remove("RUST_LOG")
            .envs(db.env())
            .env("TESSERA_DB_TIMEOUT", TEST_DB_TIMEOUT)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("tessera starts");
        let mut stderr = child.stderr.take().expect("stderr");
        let log = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = stderr.read_to_string(&mut s);
            s
        });
        let mut lines = Vec::new();
        for line in BufReader::new(child.stdout.take().expect("stdout")).lines() {
            let line = line.expect("line");
            let done = line.starts_with("tessera listening on ");
            lines.push(line);
            if done {
                break;
            }
        }
        let running = Running { child, lines, log: Some(log) };
        assert!(running.base().is_some(), "serve announced its address: {:?}", running.lines);
        running
    }

    /// The value after `prefix` on the line that starts with it.
    fn after(&self, prefix: &str) -> Option<String> {
        self.lines.iter().find_map(|l| l.strip_prefix(prefix)).map(str::to_owned)
    }

    fn base(&self) -> Option<String> {
        self.after("tessera listening on ")
    }

    /// Stops the server and returns its log.
    fn log(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.log.take().expect("log").join().expect("log thread")
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The shipped unit passes `systemd-analyze verify` (with its `ExecStart` pointed at the
/// binary just built, which verify requires to exist).
#[test]
fn the_shipped_systemd_unit_verifies() {
    let unit = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/systemd/tessera.service");
    let text = std::fs::read_to_string(&unit).expect("deploy/systemd/tessera.service");
    for needed in [
        "User=tessera",
        "StateDirectory=tessera",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "LoadCredential=kek:",
        "TESSERA_KEK_FILE=%d/kek",
        "Restart=on-failure",
        "KillSignal=SIGTERM",
    ] {
        assert!(text.contains(needed), "the unit sets {needed}");
    }
    // Started after time sync has set the clock, which it also pulls in.
    for directive in ["After=", "Wants="] {
        let ordered = text
            .lines()
            .filter_map(|l| l.trim().strip_prefix(directive))
            .any(|units| units.split_whitespace().any(|u| u == "time-sync.target"));
        assert!(ordered, "the unit has {directive}time-sync.target");
    }
    if Command::new("systemd-analyze").arg("--version").output().is_err() {
        assert!(!must_run_everything(), "systemd-analyze is not installed and CI is set: failing rather than skipping");
        eprintln!("SKIPPED: systemd-analyze is not installed (Debian: apt-get install systemd)");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let copy = dir.path().join("tessera.service");
    std::fs::write(&copy, text.replace("/usr/local/bin/tessera", BIN)).expect("write");
    let out = Command::new("systemd-analyze").arg("verify").arg(&copy).output().expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "systemd-analyze verify: {stderr}");
    let about_it: Vec<&str> = stderr.lines().filter(|l| l.contains("tessera.service")).collect();
    assert!(about_it.is_empty(), "systemd-analyze verify has remarks: {about_it:?}");
}

/// With standard output a pipe (a service, a container), the first key goes to a private
/// file beside the database, and only the file's place is printed and logged.
#[cfg(unix)]
#[tokio::test]
async fn a_first_start_without_a_terminal_writes_its_key_to_a_private_file() {
    use std::os::unix::fs::PermissionsExt as _;
    let db = TestDb::new(Backend::Sqlite).await.expect("sqlite");
    let server = Running::start(&db, &["--bind", "127.0.0.1:0"], &[]);
    let expected = db.dir().join("tessera.db.first-api-key");
    assert_eq!(server.after(FIRST_KEY_LINE).as_deref(), Some(expected.to_str().expect("utf8")), "{:?}", server.lines);
    let key = std::fs::read_to_string(&expected).expect("the key file").trim().to_owned();
    assert!(key.starts_with("tsk_"), "the file holds the key");
    let mode = std::fs::metadata(&expected).expect("metadata").permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "the key file is the owner's only");
    assert!(!server.lines.iter().any(|l| l.contains(&key) || l.contains("tsk_")), "{:?}", server.lines);
    let base = server.base().expect("base");
    create_connection(&reqwest::Client::new(), &base, &key).await;
    let log = server.log();
    assert!(log.contains(expected.to_str().expect("utf8")), "the log says where the key is: {log}");
    assert!(!log.contains(&key) && !log.contains("tsk_"), "the log never holds the key: {log}");

    // A second start creates no key and writes no file.
    std::fs::remove_file(&expected).expect("rm");
    let again = Running::start(&db, &["--bind", "127.0.0.1:0"], &[]);
    assert!(again.after(FIRST_KEY_LINE).is_none() && !expected.exists());
    drop(again);

    // Named: the key goes there, and a file left by an earlier database is replaced, its
    // mode narrowed.
    let other = TestDb::new(Backend::Sqlite).await.expect("sqlite");
    let named = other.dir().join("keys").join("first");
    std::fs::create_dir_all(named.parent().expect("dir")).expect("mkdir");
    std::fs::write(&named, "old\n").expect("write");
    std::fs::set_permissions(&named, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let path = named.to_str().expect("utf8");
    let server = Running::start(&other, &["--bind", "127.0.0.1:0"], &[("TESSERA_FIRST_KEY_FILE", path)]);
    assert_eq!(server.after(FIRST_KEY_LINE).as_deref(), Some(path));
    let key = std::fs::read_to_string(&named).expect("read").trim().to_owned();
    assert!(key.starts_with("tsk_") && !key.contains("old"));
    assert_eq!(std::fs::metadata(&named).expect("metadata").permissions().mode() & 0o777, 0o600);
    create_connection(&reqwest::Client::new(), &server.base().expect("base"), &key).await;
}

/// A main listener off loopback: the console and `/metrics` are absent from it, present on
/// the loopback admin listener, and plain HTTP off loopback is warned about.
async fn a_public_main_listener_sends_the_console_and_metrics_to_the_admin_listener(db: TestDb) {
    let server = Running::start(&db, &["--bind", "0.0.0.0:0", "--admin-bind", "127.0.0.1:0"], &[]);
    let main = server.base().expect("base");
    let port = main.rsplit(':').next().expect("port").to_owned();
    let main = format!("http://127.0.0.1:{port}");
    let admin = server.after("tessera metrics listening on ").expect("metrics announced");
    let console = server.after("tessera operator console at ").expect("console announced");
    assert!(console.starts_with(&format!("{admin}/console ")), "one admin listener for both: {console}");
    assert!(admin.starts_with("http://127.0.0.1:") && admin != main, "{admin}");
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let status = |url: String| {
        let http = http.clone();
        async move { http.get(url).send().await.expect("sent").status().as_u16() }
    };
    assert_eq!(status(format!("{main}/console/sign-in")).await, 404, "no console on the public listener");
    assert_eq!(status(format!("{main}/metrics")).await, 404, "no /metrics on the public listener");
    assert_eq!(status(format!("{main}/healthz")).await, 200, "the API is there");
    assert_eq!(status(format!("{admin}/console/sign-in")).await, 200, "the console is on the admin listener");
    assert_eq!(status(format!("{admin}/metrics")).await, 200, "/metrics is on the admin listener");
    assert_eq!(status(format!("{admin}/connections")).await, 404, "the API is not");
    // `systemctl reload` (SIGHUP) without TLS has nothing to reload, and does not stop it.
    let pid = server.child.id().to_string();
    assert!(Command::new("kill").args(["-HUP", &pid]).status().expect("kill").success());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(status(format!("{main}/healthz")).await, 200, "still serving after SIGHUP");
    let log = server.log();
    assert!(log.contains("serving plain HTTP off loopback"), "{log}");
    assert!(log.contains("served here, not on the main listener"), "{log}");
    assert!(log.contains("SIGHUP: nothing to reload"), "{log}");

    // `tessera operator` finds the console where the server put it: the default admin
    // listener for a public --bind, else the main listener, under the public URL if set.
    let link = |env: &[(&str, &str)]| {
        let mut cmd = Command::new(BIN);
        cmd.args(["operator", "link", "ann", "--json"]).envs(db.env());
        for var in ["TESSERA_BIND", "TESSERA_PUBLIC_URL", "TESSERA_ADMIN_BIND", "TESSERA_CONSOLE_PUBLIC_URL"] {
            cmd.env_remove(var);
        }
        let out = cmd.envs(env.iter().copied()).output().expect("runs");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        v["sign_in_url"].as_str().expect("url").to_owned()
    };
    cli_json(&db, &["operator", "create", "ann", "--json"]);
    let public = [("TESSERA_PUBLIC_URL", "https://tessera.example.com")];
    assert!(link(&public).starts_with("https://tessera.example.com/console/sign-in/link?token="));
    let on_public_bind = [("TESSERA_BIND", "0.0.0.0:8080"), ("TESSERA_PUBLIC_URL", "https://tessera.example.com")];
    assert!(link(&on_public_bind).starts_with("http://127.0.0.1:8081/console/sign-in/link?token="));
    assert!(link(&[]).starts_with("http://127.0.0.1:8080/console/sign-in/link?token="));
}

both_backends!(a_public_main_listener_sends_the_console_and_metrics_to_the_admin_listener);

/// A self-signed certificate for localhost and 127.0.0.1 with the given serial, written as
/// `cert.pem` and `key.pem` in `dir`.
fn make_certificate(dir: &Path, serial: &str) {
    let out = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2"])
        .args(["-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-set_serial", serial])
        .args(["-addext", "basicConstraints=critical,CA:FALSE", "-addext", "extendedKeyUsage=serverAuth"])
        .arg("-keyout")
        .arg(dir.join("key.pem"))
        .arg("-out")
        .arg(dir.join("cert.pem"))
        .output()
        .expect("the openssl command runs");
    assert!(out.status.success(), "openssl req: {}", String::from_utf8_lossy(&out.stderr));
}

/// The serial of the certificate the server at `port` presents, as `openssl s_client` sees it.
fn served_serial(port: &str) -> String {
    let mut client = Command::new("openssl")
        .args(["s_client", "-connect", &format!("127.0.0.1:{port}"), "-servername", "localhost"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("openssl s_client runs");
    let mut pem = String::new();
    client.stdout.take().expect("stdout").read_to_string(&mut pem).expect("read");
    let _ = client.wait();
    let mut x509 = Command::new("openssl")
        .args(["x509", "-noout", "-serial"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("openssl x509 runs");
    std::io::Write::write_all(&mut x509.stdin.take().expect("stdin"), pem.as_bytes()).expect("write");
    let out = x509.wait_with_output().expect("output");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn https_client(dir: &Path) -> reqwest::Client {
    let pem = std::fs::read(dir.join("cert.pem")).expect("cert");
    reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).expect("a certificate"))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// HTTPS on the listeners: a client that trusts the certificate talks to the API, the console
/// marks its cookie `Secure`, and a renewed certificate written over the files is served
/// without a restart (and so is one after SIGHUP).
#[tokio::test]
async fn tls_serves_the_certificate_and_a_renewed_one_without_a_restart() {
    let db = TestDb::new(Backend::Sqlite).await.expect("sqlite");
    let first = tempfile::tempdir().expect("tempdir");
    make_certificate(first.path(), "0x1001");
    let live = tempfile::tempdir().expect("tempdir");
    for f in ["cert.pem", "key.pem"] {
        std::fs::copy(first.path().join(f), live.path().join(f)).expect("copy");
    }
    let cert = live.path().join("cert.pem").display().to_string();
    let key = live.path().join("key.pem").display().to_string();
    let args = ["--bind", "127.0.0.1:0", "--tls-cert", &cert, "--tls-key", &key, "--tls-reload-interval", "1"];
    let server = Running::start(&db, &args, &[]);
    let base = server.base().expect("base");
    let port = base.rsplit(':').next().expect("port").to_owned();
    assert_eq!(base, format!("https://127.0.0.1:{port}"), "announced as https");
    let key_line = format!("{FIRST_KEY_LINE}{}", server.after(FIRST_KEY_LINE).expect("the first key file"));
    let api_key = crate::support::server::first_key_in(&key_line).expect("the first key");
    let http = https_client(first.path());
    assert_eq!(http.get(format!("{base}/healthz")).send().await.expect("https").status(), 200);
    create_connection(&http, &base, &api_key).await;
    let slash = http.get(format!("{base}/healthz/")).send().await.expect("https");
    let location = slash.headers().get("location").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    assert_eq!((slash.status().as_u16(), location.as_str()), (307, format!("{base}/healthz").as_str()));
    assert!(reqwest::get(format!("http://127.0.0.1:{port}/healthz")).await.is_err(), "no plain HTTP on it");
    assert_eq!(served_serial(&port), "serial=1001");

    // The console's session cookie is Secure, and the sign-in link is https.
    // (`operator` reads the server's TESSERA_TLS_CERT; here, its flag.)
    let bind = format!("127.0.0.1:{port}");
    let created = cli_json(&db, &["operator", "create", "ann", "--bind", &bind, "--tls-cert", &cert, "--json"]);
    let url = created["sign_in_url"].as_str().expect("url");
    let prefix = format!("{base}/console/sign-in/link?token=");
    assert!(url.starts_with(&prefix), "{url}");
    let signed_in = http
        .post(format!("{base}/console/sign-in/link"))
        .form(&[("token", &url[prefix.len()..])])
        .send()
        .await
        .expect("sent");
    assert_eq!(signed_in.status(), 303);
    let cookie = signed_in.headers().get("set-cookie").and_then(|v| v.to_str().ok()).expect("cookie").to_owned();
    assert!(cookie.starts_with("tessera_console=") && cookie.contains("; Secure"), "{cookie}");
    // And so is Link's.
    let created = http
        .post(format!("{base}/link-tokens"))
        .header("x-api-key", &api_key)
        .json(&serde_json::json!({"customer_id": "cust-1"}))
        .send()
        .await
        .expect("sent");
    assert_eq!(created.status(), 201);
    let body: serde_json::Value = created.json().await.expect("json");
    let link_token = body["link_token"].as_str().expect("link_token");
    let started = http.get(format!("{base}/link/{link_token}")).send().await.expect("sent");
    assert_eq!(started.status(), 303);
    let cookie = started.headers().get("set-cookie").and_then(|v| v.to_str().ok()).expect("cookie").to_owned();
    assert!(cookie.starts_with("tessera_link=") && cookie.contains("; Secure"), "{cookie}");

    // Renewed: the new pair written aside and moved over the old files.
    let renewed = tempfile::tempdir().expect("tempdir");
    make_certificate(renewed.path(), "0x2002");
    for f in ["cert.pem", "key.pem"] {
        let aside = live.path().join(format!("{f}.new"));
        std::fs::copy(renewed.path().join(f), &aside).expect("copy");
        std::fs::rename(&aside, live.path().join(f)).expect("rename");
    }
    let mut seen = String::new();
    for _ in 0..120 {
        seen = served_serial(&port);
        if seen == "serial=2002" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(seen, "serial=2002", "the renewed certificate is served without a restart");
    let http = https_client(renewed.path());
    assert_eq!(http.get(format!("{base}/healthz")).send().await.expect("https").status(), 200);

    // A broken pair (a key that is not the certificate's) is refused, the served one kept.
    std::fs::copy(first.path().join("key.pem"), live.path().join("key.pem")).expect("copy");
    // SIGHUP reads the files at once; the same pair again then loads.
    let pid = server.child.id().to_string();
    assert!(Command::new("kill").args(["-HUP", &pid]).status().expect("kill").success());
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(served_serial(&port), "serial=2002", "a mismatched pair is not loaded");
    std::fs::copy(first.path().join("cert.pem"), live.path().join("cert.pem")).expect("copy");
    assert!(Command::new("kill").args(["-HUP", &pid]).status().expect("kill").success());
    for _ in 0..120 {
        seen = served_serial(&port);
        if seen == "serial=1001" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(seen, "serial=1001", "SIGHUP loads the pair now in the files");
    let log = server.log();
    assert!(log.contains("does not belong to the certificate"), "the broken pair is logged: {log}");
    assert!(log.contains("loaded a new TLS certificate"), "{log}");
    assert!(!log.contains("PRIVATE KEY"), "no key material in the log");
}

/// The key-encryption key from a file (a systemd credential): no key file is made beside
/// the database, and the commands read the same file.
#[tokio::test]
async fn the_key_encryption_key_can_come_from_a_file() {
    let db = TestDb::new(Backend::Sqlite).await.expect("sqlite");
    let kek_file = db.dir().join("kek");
    std::fs::write(&kek_file, format!("{}\n", crate::support::test_kek())).expect("write");
    let path = kek_file.to_str().expect("utf8");
    let server = Running::start(&db, &["--bind", "127.0.0.1:0"], &[("TESSERA_KEK_FILE", path)]);
    drop(server);
    assert!(!db.dir().join("tessera.db.kek").exists(), "no key file beside the database");
    let rotate = |env: &[(&str, &str)]| {
        let out = Command::new(BIN)
            .args(["signing-key", "rotate", "--json"])
            .env_remove("TESSERA_KEK")
            .env_remove("TESSERA_KEK_FILE")
            .envs(db.env())
            .envs(env.iter().copied())
            .output()
            .expect("runs");
        (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    // Another file's key is refused before anything is written; the server's own file, and
    // the same key given as TESSERA_KEK, are the deployment's.
    let wrong = db.dir().join("wrong");
    std::fs::write(&wrong, "d3JvbmctZGVwbG95bWVudC1rZWstMzItYnl0ZXMtISE=").expect("write");
    let (ok, _) = rotate(&[("TESSERA_KEK_FILE", wrong.to_str().expect("utf8"))]);
    assert!(!ok, "another file's key is refused");
    let (ok, stderr) = rotate(&[("TESSERA_KEK_FILE", path)]);
    assert!(ok, "{stderr}");
    let (ok, stderr) = rotate(&[("TESSERA_KEK", &crate::support::test_kek())]);
    assert!(!ok && stderr.contains("already scheduled"), "the same key reads the keyring: {stderr}");
    let (ok, stderr) = rotate(&[("TESSERA_KEK_FILE", path), ("TESSERA_KEK", &crate::support::test_kek())]);
    assert!(!ok && stderr.contains("--kek-file"), "both at once is refused: {stderr}");
}
