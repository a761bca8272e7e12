//! Upgrades without downtime: the previous release (RELEASES) and this tree's `tessera` run
//! side by side on one PostgreSQL database, as during a rolling upgrade; and the check that
//! keeps migrations expand-then-contract refuses one that drops or renames.
use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{Value, json};

use crate::support::server::{BIN, Server, TEST_DB_TIMEOUT, create_connection};
use crate::support::{Backend, TestDb, must_run_everything};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The previous release's version and commit: the last line of RELEASES.
fn previous_release() -> (String, String) {
    let text = std::fs::read_to_string(Path::new(ROOT).join("RELEASES")).expect("RELEASES");
    let line = text.lines().rev().find(|l| !l.starts_with('#') && !l.trim().is_empty()).expect("a release");
    let (version, commit) = line.split_once(' ').expect("VERSION COMMIT");
    (version.to_owned(), commit.trim().to_owned())
}

/// The previous release's binary, as scripts/previous-release.sh builds it.
fn previous_binary() -> Option<PathBuf> {
    let (version, commit) = previous_release();
    let bin = Path::new(ROOT).join(format!("target/previous-release/tessera-{version}"));
    if bin.is_file() {
        return Some(bin);
    }
    let why = format!(
        "tessera {version} ({commit}) is not built at {}: run scripts/previous-release.sh (scripts/test.sh does)",
        bin.display()
    );
    assert!(!must_run_everything(), "{why}, and CI is set");
    eprintln!("SKIPPED: {why}");
    None
}

/// `serve` from `bin` on `db`, as `support::server::start` does for this tree's binary.
fn start_binary(bin: &Path, db: &TestDb) -> Server {
    let mut child = Command::new(bin)
        .args(["serve", "--bind", "127.0.0.1:0"])
        .env_remove("TESSERA_KEK")
        .envs(db.env())
        .env("TESSERA_DB_TIMEOUT", TEST_DB_TIMEOUT)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("tessera starts");
    let stdout = child.stdout.take().expect("stdout");
    let (mut base, mut bootstrap_key) = (None, None);
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("line");
        let line = line.trim();
        if line.starts_with("tsk_") {
            bootstrap_key = Some(line.to_owned());
        }
        if let Some(addr) = line.strip_prefix("tessera listening on ") {
            base = Some(addr.to_owned());
            break;
        }
    }
    Server { child, base: base.expect("server announced its address"), metrics_base: None, bootstrap_key }
}

async fn mint(http: &reqwest::Client, base: &str, key: &str, conn: &str) -> String {
    let r = http
        .post(format!("{base}/connections/{conn}/token"))
        .header("x-api-key", key)
        .json(&json!({"scope": "access"}))
        .send()
        .await
        .expect("sent");
    assert_eq!(r.status(), 201, "mint at {base}");
    r.json::<Value>().await.expect("json")["connection_token"].as_str().expect("token").to_owned()
}

async fn introspect(http: &reqwest::Client, base: &str, key: &str, token: &str) -> bool {
    let r = http
        .post(format!("{base}/tokens/introspect"))
        .header("x-api-key", key)
        .json(&json!({"token": token}))
        .send()
        .await
        .expect("sent");
    assert_eq!(r.status(), 200, "introspect at {base}");
    r.json::<Value>().await.expect("json")["active"] == json!(true)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_previous_release_and_this_one_serve_one_database_side_by_side() {
    let Some(db) = TestDb::new(Backend::Postgres).await else { return };
    let Some(old_bin) = previous_binary() else { return };
    let http = reqwest::Client::new();

    // The previous release runs alone first, with its schema and a token of its own.
    let old = start_binary(&old_bin, &db);
    let key = old.bootstrap_key.clone().expect("the previous release created the default client");
    let conn = create_connection(&http, &old.base, &key).await;
    let before = mint(&http, &old.base, &key, &conn).await;

    // This release starts beside it and migrates the database while the old one serves.
    let new = start_binary(Path::new(BIN), &db);
    assert!(new.bootstrap_key.is_none(), "one default client");
    let applied: i64 = {
        use sqlx::Connection as _;
        let mut c = sqlx::PgConnection::connect(&db.url).await.expect("connect");
        sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations").fetch_one(&mut c).await.expect("version")
    };
    let newest = std::fs::read_dir(Path::new(ROOT).join("migrations/postgres"))
        .expect("migrations")
        .filter_map(|e| e.ok()?.file_name().to_str()?.split('_').next()?.parse::<i64>().ok())
        .max()
        .expect("a migration");
    assert_eq!(applied, newest, "this release migrated the database");

    // Both mint and introspect, each the other's tokens too, on the migrated schema.
    for (minter, reader) in [(&old, &new), (&new, &old), (&old, &old), (&new, &new)] {
        let token = mint(&http, &minter.base, &key, &conn).await;
        assert!(introspect(&http, &reader.base, &key, &token).await, "{} -> {}", minter.base, reader.base);
    }
    assert!(introspect(&http, &new.base, &key, &before).await, "a token from before the upgrade");
    let conn2 = create_connection(&http, &new.base, &key).await;
    let by_old = mint(&http, &old.base, &key, &conn2).await;

    // A request the previous release answered, retried through this one, is replayed: the
    // previous release kept its answers unsealed.
    let create = |base: &str| {
        http.post(format!("{base}/connections"))
            .header("x-api-key", &key)
            .header("idempotency-key", "upgrade-retry")
            .json(&json!({"customer_id": "retried", "retailer_id": "walmart"}))
            .send()
    };
    let first = create(&old.base).await.expect("sent");
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.expect("json");
    let retry = create(&new.base).await.expect("sent");
    assert_eq!(retry.status(), 201, "a retry across the upgrade is replayed");
    assert_eq!(retry.json::<Value>().await.expect("json")["connection_id"], first["connection_id"]);

    // A revocation through one is honoured by the other.
    let revoked = mint(&http, &old.base, &key, &conn).await;
    let r = http
        .post(format!("{}/tokens/revoke", new.base))
        .header("x-api-key", &key)
        .json(&json!({"token": revoked}))
        .send()
        .await
        .expect("sent");
    assert!(r.status().is_success(), "{}", r.status());
    assert!(!introspect(&http, &old.base, &key, &revoked).await, "the previous release sees the revocation");

    // A replica of the previous release that starts now refuses the migrated database.
    let restarted = Command::new(&old_bin)
        .args(["serve", "--bind", "127.0.0.1:0"])
        .env_remove("TESSERA_KEK")
        .envs(db.env())
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&restarted.stderr);
    assert!(!restarted.status.success() && stderr.contains("migrated by a newer tessera"), "{stderr}");

    // The previous release stops; this one goes on, with every token it minted.
    let mut old = old;
    nix_term(&old);
    let status = old.child.wait().expect("exits");
    assert!(status.success(), "the previous release stops cleanly: {status}");
    for t in [&before, &by_old] {
        assert!(introspect(&http, &new.base, &key, t).await);
    }
    let after = mint(&http, &new.base, &key, &conn2).await;
    assert!(introspect(&http, &new.base, &key, &after).await);
}

/// SIGTERM, as an orchestrator stops a replica.
fn nix_term(server: &Server) {
    let pid = server.child.id().to_string();
    let ok = Command::new("kill").args(["-TERM", &pid]).status().expect("kill").success();
    assert!(ok, "SIGTERM sent to {pid}");
}

/// The migration check, on a copy of the migrations with `planted` added.
fn check_with(planted: &[(&str, &str)], changelog: Option<&str>) -> (bool, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    for backend in ["postgres", "sqlite"] {
        let to = dir.path().join("migrations").join(backend);
        std::fs::create_dir_all(&to).expect("dir");
        for e in std::fs::read_dir(Path::new(ROOT).join("migrations").join(backend)).expect("migrations") {
            let e = e.expect("entry");
            std::fs::copy(e.path(), to.join(e.file_name())).expect("copy");
        }
    }
    for (path, sql) in planted {
        std::fs::write(dir.path().join("migrations").join(path), sql).expect("planted");
    }
    let mut cmd = Command::new(Path::new(ROOT).join("scripts/check-migrations.sh"));
    cmd.env("MIGRATIONS_DIR", dir.path().join("migrations"));
    if let Some(text) = changelog {
        std::fs::write(dir.path().join("CHANGELOG.md"), text).expect("changelog");
        cmd.env("CHANGELOG", dir.path().join("CHANGELOG.md"));
    }
    let out = cmd.output().expect("the check runs");
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

#[test]
fn the_migration_check_refuses_a_drop_or_rename_the_previous_release_would_read() {
    let (ok, out) = check_with(&[], None);
    assert!(ok, "this tree's migrations pass: {out}");

    let drop = ("postgres/29990101000001_drop_email.sql", "-- contract\nALTER TABLE connections DROP COLUMN email;\n");
    let (ok, out) = check_with(&[drop], None);
    assert!(!ok && out.contains("29990101000001_drop_email.sql") && out.contains("DROP COLUMN email"), "{out}");
    for sql in [
        "DROP TABLE purchases;",
        "ALTER TABLE clients RENAME COLUMN name TO title;",
        "ALTER TABLE clients RENAME TO tenants;",
    ] {
        let (ok, out) = check_with(&[("sqlite/29990101000002_x.sql", sql)], None);
        assert!(!ok, "{sql} is refused: {out}");
    }
    // A dropped index costs speed, not correctness; a comment is not a statement.
    let (ok, out) = check_with(
        &[("postgres/29990101000003_x.sql", "DROP INDEX IF EXISTS connections_by_status; -- DROP TABLE x\n")],
        None,
    );
    assert!(ok, "{out}");

    // Announced in the release notes as needing a stop, it passes; elsewhere it does not.
    let noted = "## [Unreleased]\n\n### Upgrading\n- Migration 29990101000001 drops `connections.email`: it needs a stop.\n\n## [0.1.0]\n";
    let (ok, out) = check_with(&[drop], Some(noted));
    assert!(ok, "{out}");
    let elsewhere = "## [Unreleased]\n\n### Added\n- 29990101000001 needs a stop.\n\n## [0.1.0]\n\n### Upgrading\n- 29990101000001 needs a stop.\n";
    let (ok, out) = check_with(&[drop], Some(elsewhere));
    assert!(!ok, "only the Unreleased Upgrading section counts: {out}");
}
