//! Tests of the real `tessera` binary, where processes matter: kills, start-up, the CLI.
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tessera::domain::ids::TokenId;

use crate::support::server::{BIN, cli, cli_json, create_connection, db_url, jti_of, start};
use crate::support::{Backend, TestDb};

async fn every_answered_token_survives_sigkill(db: TestDb) {
    let mut server = start(&db, &[]);
    let key = server.bootstrap_key.clone().expect("bootstrap key printed");
    let http = reqwest::Client::new();
    let conn = create_connection(&http, &server.base, &key).await;

    // Many requests in flight; the process is killed as soon as some have been answered.
    // Each request reports its token, or None when it got no 201 (the process died first).
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Option<String>>();
    let url = Arc::new(format!("{}/connections/{conn}/token", server.base));
    for _ in 0..300 {
        let (http, url, key, tx) = (http.clone(), url.clone(), key.clone(), tx.clone());
        tokio::spawn(async move {
            let resp = http.post(url.as_str()).header("x-api-key", key).json(&json!({"scope": "access"})).send().await;
            let token = match resp {
                Ok(r) if r.status() == 201 => {
                    r.json::<Value>().await.ok().map(|v| v["connection_token"].as_str().expect("token").to_owned())
                }
                _ => None,
            };
            tx.send(token).expect("the test is listening");
        });
    }
    drop(tx);
    let (mut tokens, mut unanswered) = (Vec::new(), 0);
    while tokens.len() < 40 {
        match rx.recv().await.expect("answers arrive") {
            Some(t) => tokens.push(t),
            None => unanswered += 1,
        }
    }
    assert_eq!(unanswered, 0, "every request before the kill was answered with a token");
    server.child.kill().expect("SIGKILL");
    server.child.wait().expect("reaped");
    // Answers already on the wire when the process died count too; every request ends, one
    // way or the other, once the process is gone.
    while let Some(outcome) = tokio::time::timeout(Duration::from_secs(30), rx.recv()).await.expect("requests end") {
        match outcome {
            Some(t) => tokens.push(t),
            None => unanswered += 1,
        }
    }
    assert_eq!(tokens.len() + unanswered, 300);
    assert!(unanswered > 0, "the kill landed while requests were in flight");

    let store = tessera::storage::connect(&db.url).await.expect("reopen");
    let mut jtis = std::collections::HashSet::new();
    for token in &tokens {
        let jti = jti_of(token);
        let rec = store.find_issued_token(&TokenId::from_string(jti.clone())).await.expect("query");
        assert!(rec.is_some(), "token {jti} was answered but its issuance record is gone");
        assert!(jtis.insert(jti), "each answer is a token of its own");
    }
}

async fn cli_manages_clients_and_keys_and_the_server_honours_them(db: TestDb) {
    // Administrative commands refuse a database that does not exist; `migrate` makes one.
    let (ok, _, stderr) = cli(&db, &["client", "create", "--name", "acme"]);
    assert!(!ok && stderr.contains("database"), "{stderr}");
    let (ok, stdout, stderr) = cli(&db, &["migrate"]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("applied") && stdout.contains("0001 "), "migrate names what it applied: {stdout}");
    let (ok, stdout, stderr) = cli(&db, &["migrate"]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("already up to date") && !stdout.contains("0001 "), "{stdout}");
    let client = cli_json(&db, &["client", "create", "--name", "acme", "--json"]);
    let client_id = client["client_id"].as_str().expect("client_id");
    let created = cli_json(&db, &["key", "create", "--client", client_id, "--json"]);
    let key = created["api_key"].as_str().expect("api_key").to_owned();
    let key_id = created["key_id"].as_str().expect("key_id").to_owned();
    assert!(key.starts_with("tsk_"));

    let listed = cli_json(&db, &["key", "list", "--client", client_id, "--json"]);
    assert_eq!(listed.as_array().expect("list").len(), 1);
    assert_eq!(listed[0]["key_id"], key_id.as_str());
    assert!(!listed.to_string().contains(&key[10..]), "listing never shows a secret");

    let (ok, _, stderr) = cli(&db, &["key", "create", "--client", "no-such-client"]);
    assert!(!ok && stderr.contains("no client"), "{stderr}");

    // Start a server on the database the CLI made: it must not bootstrap, and the key works.
    let server = start(&db, &[]);
    assert!(server.bootstrap_key.is_none(), "a database with clients is not bootstrapped");
    let http = reqwest::Client::new();
    let conn = create_connection(&http, &server.base, &key).await;
    let mint = || {
        http.post(format!("{}/connections/{conn}/token", server.base))
            .header("x-api-key", &key)
            .json(&json!({"scope": "access"}))
    };
    assert_eq!(mint().send().await.expect("sent").status(), 201);

    // Text output gives times as RFC 3339 (UTC); JSON keeps Unix seconds.
    let (ok, text, _) = cli(&db, &["key", "list", "--client", client_id]);
    assert!(ok);
    let created_at = listed[0]["created_at"].as_i64().expect("unix seconds in JSON");
    let shown = text.split_whitespace().nth(2).expect("a time after `created`");
    assert!(shown.len() == 20 && shown.ends_with('Z') && &shown[10..11] == "T", "{text}");
    assert!(!text.contains(&created_at.to_string()), "{text}");

    // The whole key, pasted, revokes it by its id; the secret is never echoed.
    let revoked = cli_json(&db, &["key", "revoke", &key, "--json"]);
    assert!(revoked["revoked_at"].is_i64());
    assert_eq!(revoked["key_id"], key_id.as_str());
    assert_eq!(mint().send().await.expect("sent").status(), 401, "revocation is honoured at once");
    // `tsk_<id>_<secret>`, where the secret (base64url) may itself hold a `_`.
    let secret = key.splitn(3, '_').nth(2).expect("secret");
    let unknown = format!("tsk_01J0000000000000000000000Z_{secret}");
    let (ok, stdout, stderr) = cli(&db, &["key", "revoke", &unknown]);
    assert!(!ok && stderr.contains("no API key 01J0000000000000000000000Z"), "{stderr}");
    assert!(!stderr.contains(secret) && !stdout.contains(secret), "{stderr}");

    // Too short a pre-publication is refused, as `serve --key-prepublish` refuses it.
    let (ok, _, stderr) = cli(&db, &["signing-key", "rotate", "--prepublish", "5"]);
    assert!(!ok && stderr.contains("--prepublish must be at least 310 seconds"), "{stderr}");
    let (ok, _, stderr) = cli(&db, &["signing-key", "rotate", "--prepublish", "359", "--key-refresh", "60"]);
    assert!(!ok && stderr.contains("at least 360 seconds"), "{stderr}");
    let keys = cli_json(&db, &["signing-key", "list", "--json"]);
    assert!(keys.as_array().expect("keys").iter().all(|k| k["state"] != "next"), "nothing was scheduled: {keys}");

    // A scheduled rotation publishes the new key first; it is not active yet, and a second
    // schedule is refused while one is pending.
    let scheduled = cli_json(&db, &["signing-key", "rotate", "--json"]);
    assert!(
        scheduled["activates_at"].as_i64().expect("activates_at") >= 600 + revoked["revoked_at"].as_i64().expect("t")
    );
    let (ok, _, stderr) = cli(&db, &["signing-key", "rotate"]);
    assert!(!ok && stderr.contains("already scheduled"), "{stderr}");
    let state_of = |keys: &Value, kid: &Value| {
        keys.as_array().expect("keys").iter().find(|k| &k["kid"] == kid).map(|k| k["state"].clone())
    };
    let keys = cli_json(&db, &["signing-key", "list", "--json"]);
    assert_eq!(state_of(&keys, &scheduled["kid"]), Some(json!("next")));
    let fresh = start(&db, &[]);
    let jwks: Value = http
        .get(format!("{}/.well-known/jwks.json", fresh.base))
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");
    assert!(jwks.to_string().contains(scheduled["kid"].as_str().expect("kid")), "published before it signs");
    // An immediate rotation (a compromised key) activates at once.
    let now = cli_json(&db, &["signing-key", "rotate", "--immediately", "--json"]);
    let keys = cli_json(&db, &["signing-key", "list", "--json"]);
    assert_eq!(state_of(&keys, &now["kid"]), Some(json!("active")));
    assert_eq!(keys.as_array().expect("keys").iter().filter(|k| k["state"] == "active").count(), 1);
    assert!(!keys.to_string().contains("sealed"), "no key material is listed");
}

async fn two_servers_starting_at_once_bootstrap_one_client_and_one_active_key(first: TestDb) {
    let backend = first.backend;
    drop(first);
    for _ in 0..3 {
        let db = TestDb::new(backend).await.expect("database");
        let (a, b) = std::thread::scope(|s| {
            let a = s.spawn(|| start(&db, &[]));
            let b = s.spawn(|| start(&db, &[]));
            (a.join().expect("a"), b.join().expect("b"))
        });
        let printed = [&a, &b].iter().filter(|s| s.bootstrap_key.is_some()).count();
        assert_eq!(printed, 1, "exactly one start creates the default client");
        drop((a, b));
        let keys = cli_json(&db, &["signing-key", "list", "--json"]);
        let active = keys.as_array().expect("keys").iter().filter(|k| k["state"] == "active").count();
        assert_eq!(active, 1, "one active signing key");
    }
}

#[test]
fn bad_configuration_stops_start_up_with_a_message_that_says_what_to_fix() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = db_url(dir.path());
    let cases: &[(&[&str], &str)] = &[
        (&["serve", "--database-url", &url, "--token-ttl", "5"], "token-ttl"),
        (&["serve", "--database-url", &url, "--algorithm", "RS256"], "EdDSA or HS256"),
        (&["serve", "--database-url", &url, "--kek", "not-a-key"], "TESSERA_KEK"),
        (&["serve", "--database-url", &url, "--bind", "nowhere"], "bind"),
        (&["serve", "--database-url", "mysql://user:hunter2@db/x"], "sqlite://"),
        // The cause, said once: not only that a pool timed out.
        (
            &["migrate", "--database-url", "postgres://user:hunter2@127.0.0.1:1/x", "--db-timeout", "2"],
            "Connection refused",
        ),
    ];
    for (args, hint) in cases {
        let out = Command::new(BIN).args(*args).env_remove("TESSERA_KEK").output().expect("runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} should fail");
        assert!(stderr.contains(hint), "{args:?}: {stderr}");
        assert!(!stderr.contains("hunter2"), "passwords are never printed: {stderr}");
        assert_eq!(stderr.matches(hint).count(), 1, "the cause is said once: {stderr}");
    }
}

#[cfg(unix)]
#[tokio::test]
async fn serve_creates_a_private_key_encryption_key_file_beside_the_database() {
    use std::os::unix::fs::PermissionsExt as _;
    let db = TestDb::new(Backend::Sqlite).await.expect("sqlite");
    let server = start(&db, &[]);
    drop(server);
    let kek = db.dir().join("tessera.db.kek");
    let mode = std::fs::metadata(&kek).expect("kek file exists").permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    // The database holds no private key in plaintext: every sealed key is longer than a seed
    // and differs from it, which the round trip through the server's KEK already proves; here,
    // a restart with the same file must reuse it rather than fail.
    let again = start(&db, &[]);
    assert!(again.bootstrap_key.is_none());
}

/// `serve` with its output piped: the lines up to the listening line, and the log once it
/// has been stopped.
fn serve_piped(db: &TestDb) -> (Vec<String>, String) {
    use std::io::{BufRead as _, Read as _};
    let mut child = Command::new(BIN)
        .args(["serve", "--bind", "127.0.0.1:0"])
        .env_remove("TESSERA_KEK")
        .env_remove("RUST_LOG")
        .envs(db.env())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("starts");
    let mut lines = Vec::new();
    for line in std::io::BufReader::new(child.stdout.take().expect("stdout")).lines() {
        let line = line.expect("line");
        let done = line.starts_with("tessera listening on ");
        lines.push(line);
        if done {
            break;
        }
    }
    let _ = child.kill();
    let mut log = String::new();
    child.stderr.take().expect("stderr").read_to_string(&mut log).expect("log");
    let _ = child.wait();
    (lines, log)
}

async fn serve_announces_its_docs_and_logs_plain_text_to_a_pipe(db: TestDb) {
    for start in ["first", "second"] {
        let (lines, log) = serve_piped(&db);
        let listening = lines.last().expect("a listening line");
        let base = listening.strip_prefix("tessera listening on ").expect("listening");
        let docs = format!("tessera API documentation at {base}/docs");
        assert!(lines.contains(&docs), "{start} start names the docs before listening: {lines:?}");
        assert!(log.contains("tessera listening"), "{start} start: {log}");
        assert!(!log.contains('\u{1b}'), "{start} start: no colour codes in a piped log: {log:?}");
        // A database already migrated is not news (PostgreSQL said so in a notice at INFO).
        assert!(!log.contains("already exists"), "{start} start: {log}");
    }
}

both_backends!(
    serve_announces_its_docs_and_logs_plain_text_to_a_pipe,
    every_answered_token_survives_sigkill,
    cli_manages_clients_and_keys_and_the_server_honours_them,
    two_servers_starting_at_once_bootstrap_one_client_and_one_active_key,
);

#[tokio::test]
async fn token_verify_accepts_a_minted_token_and_refuses_a_tampered_one() {
    let db = TestDb::new(Backend::Sqlite).await.expect("sqlite");
    let server = start(&db, &[]);
    let key = server.bootstrap_key.clone().expect("key");
    let http = reqwest::Client::new();
    let conn = create_connection(&http, &server.base, &key).await;
    let r: Value = http
        .post(format!("{}/connections/{conn}/token", server.base))
        .header("x-api-key", &key)
        .json(&json!({"scope": "access"}))
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");
    let token = r["connection_token"].as_str().expect("token").to_owned();
    let jwks = http
        .get(format!("{}/.well-known/jwks.json", server.base))
        .send()
        .await
        .expect("sent")
        .text()
        .await
        .expect("text");
    let jwks_file = db.dir().join("jwks.json");
    std::fs::write(&jwks_file, jwks).expect("write");
    let jwks_arg = jwks_file.display().to_string();

    let ok = Command::new(BIN)
        .args(["token", "verify", &token, "--jwks", &jwks_arg, "--audience", "subtotal"])
        .output()
        .expect("runs");
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    let claims: Value = serde_json::from_slice(&ok.stdout).expect("claims json");
    assert_eq!(claims["sub"], conn.as_str());

    // The same, fetching the JWKS from the server.
    let url = format!("{}/.well-known/jwks.json", server.base);
    let by_url = Command::new(BIN).args(["token", "verify", &token, "--jwks", &url]).output().expect("runs");
    assert!(by_url.status.success(), "{}", String::from_utf8_lossy(&by_url.stderr));
    assert_eq!(serde_json::from_slice::<Value>(&by_url.stdout).expect("claims")["sub"], conn.as_str());

    let wrong_aud = Command::new(BIN)
        .args(["token", "verify", &token, "--jwks", &jwks_arg, "--audience", "x"])
        .output()
        .expect("runs");
    assert!(!wrong_aud.status.success());
    // Change one character well inside the signature (the last one carries padding bits).
    let mut chars: Vec<char> = token.chars().collect();
    let i = chars.len() - 10;
    chars[i] = if chars[i] == 'A' { 'B' } else { 'A' };
    let tampered: String = chars.into_iter().collect();
    let bad = Command::new(BIN).args(["token", "verify", &tampered, "--jwks", &jwks_arg]).output().expect("runs");
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("token refused"));
}

/// Standard output whose reader has already gone, as under `| head -0`.
fn closed_pipe() -> std::process::Stdio {
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    writer.into()
}

#[tokio::test]
async fn a_closed_stdout_ends_a_command_quietly() {
    let db = TestDb::new(Backend::Sqlite).await.expect("sqlite");
    let (ok, _, stderr) = cli(&db, &["migrate"]);
    assert!(ok, "{stderr}");
    let client = cli_json(&db, &["client", "create", "--name", "acme", "--json"]);
    let client_id = client["client_id"].as_str().expect("client_id");
    for _ in 0..3 {
        cli_json(&db, &["key", "create", "--client", client_id, "--json"]);
    }
    for args in [
        vec!["key", "list", "--client", client_id],
        vec!["key", "list", "--client", client_id, "--json"],
        vec!["client", "list"],
        vec!["signing-key", "list"],
        vec!["config", "example"],
    ] {
        let out = Command::new(BIN)
            .args(&args)
            .env_remove("TESSERA_KEK")
            .envs(db.env())
            .stdout(closed_pipe())
            .output()
            .expect("runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{args:?}: {:?} {stderr}", out.status);
        assert!(stderr.is_empty(), "{args:?} ends quietly: {stderr}");
    }
}

#[tokio::test]
async fn hs256_tokens_verify_with_an_exported_secret_and_errors_say_things_once() {
    let db = TestDb::new(Backend::Sqlite).await.expect("sqlite");
    let server = start(&db, &["--algorithm", "HS256"]);
    let key = server.bootstrap_key.clone().expect("key");
    let http = reqwest::Client::new();
    let conn = create_connection(&http, &server.base, &key).await;
    let r: Value = http
        .post(format!("{}/connections/{conn}/token", server.base))
        .header("x-api-key", &key)
        .json(&json!({"scope": "access"}))
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");
    let token = r["connection_token"].as_str().expect("token").to_owned();
    let keys = cli_json(&db, &["signing-key", "list", "--json"]);
    let kid_of = |alg: &str| {
        keys.as_array()
            .expect("keys")
            .iter()
            .find(|k| k["alg"] == alg && k["state"] == "active")
            .map(|k| k["kid"].as_str().expect("kid").to_owned())
    };
    let hs_kid = kid_of("HS256").expect("an active HS256 key");

    let out = Command::new(BIN)
        .args(["signing-key", "export-secret", "--kid", &hs_kid])
        .env_remove("TESSERA_KEK")
        .envs(db.env())
        .output()
        .expect("runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("warning"), "the secret comes with a warning");
    let secret_file = db.dir().join("hs256.secret");
    std::fs::write(&secret_file, &out.stdout).expect("write");
    let secret_arg = secret_file.display().to_string();
    let verified = Command::new(BIN)
        .args(["token", "verify", &token, "--secret-file", &secret_arg, "--audience", "subtotal"])
        .output()
        .expect("runs");
    assert!(verified.status.success(), "{}", String::from_utf8_lossy(&verified.stderr));
    assert_eq!(serde_json::from_slice::<Value>(&verified.stdout).expect("claims")["sub"], conn.as_str());
    let wrong = db.dir().join("wrong.secret");
    std::fs::write(&wrong, "A".repeat(43)).expect("write");
    let refused = Command::new(BIN)
        .args(["token", "verify", &token, "--secret-file", &wrong.display().to_string()])
        .output()
        .expect("runs");
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("token refused: bad signature"));

    // An EdDSA key has no secret to export.
    if let Some(ed_kid) = kid_of("EdDSA") {
        let (ok, stdout, stderr) = cli(&db, &["signing-key", "export-secret", "--kid", &ed_kid]);
        assert!(!ok && stdout.is_empty() && stderr.contains("EdDSA"), "{stderr}");
    }
    // An HS256 rotation does not claim to publish its key.
    let (ok, stdout, stderr) = cli(&db, &["signing-key", "rotate", "--algorithm", "HS256"]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("never published") && !stdout.contains("published now"), "{stdout}");

    // A JWKS that lacks the token's key: the refusal names the key once.
    let jwks = db.dir().join("jwks.json");
    std::fs::write(&jwks, r#"{"keys": []}"#).expect("write");
    let url = format!("{}/.well-known/jwks.json", server.base);
    for source in [jwks.display().to_string(), url] {
        let out = Command::new(BIN).args(["token", "verify", &token, "--jwks", &source]).output().expect("runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success());
        assert_eq!(stderr.matches("unknown key id").count(), 1, "{stderr}");
    }
}
