//! Two real `tessera serve` processes on one PostgreSQL database behave as one service.
use crate::support::server::{Server, cli_json, create_connection, start};
use crate::support::{Backend, TestDb};
use reqwest::StatusCode;
use serde_json::{Value, json};

struct Pair {
    a: Server,
    b: Server,
    key: String,
    http: reqwest::Client,
    db: TestDb,
}

async fn pair() -> Option<Pair> {
    let db = TestDb::new(Backend::Postgres).await?;
    let a = start(&db, &[]);
    let b = start(&db, &[]);
    let key = a.bootstrap_key.clone().or_else(|| b.bootstrap_key.clone()).expect("one of them bootstrapped");
    Some(Pair { a, b, key, http: reqwest::Client::new(), db })
}

impl Pair {
    async fn send(&self, base: &str, method: &str, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut req =
            self.http.request(method.parse().expect("method"), format!("{base}{path}")).header("x-api-key", &self.key);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.expect("sent");
        let status = r.status();
        let text = r.text().await.expect("body");
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn mint(&self, base: &str, conn: &str) -> (StatusCode, Value) {
        self.send(base, "POST", &format!("/connections/{conn}/token"), Some(json!({"scope": "access"}))).await
    }
}

#[tokio::test]
async fn a_token_minted_by_one_replica_verifies_with_the_others_jwks() {
    let Some(p) = pair().await else { return };
    let conn = create_connection(&p.http, &p.a.base, &p.key).await;
    let (status, body) = p.mint(&p.a.base, &conn).await;
    assert_eq!(status, StatusCode::CREATED);
    let token = body["connection_token"].as_str().expect("token");
    let (_, jwks) = p.send(&p.b.base, "GET", "/.well-known/jwks.json", None).await;
    let set: tessera::token::verify::Jwks = serde_json::from_value(jwks).expect("jwks");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("time").as_secs() as i64;
    let claims = tessera::token::verify::verify(token, &set, &Default::default(), now).expect("verifies with B's keys");
    assert_eq!(claims.sub, conn);
    // Both replicas sign with the same key.
    let (_, other) = p.mint(&p.b.base, &conn).await;
    let kid = |t: &str| jsonwebtoken::decode_header(t).expect("header").kid;
    assert_eq!(kid(token), kid(other["connection_token"].as_str().expect("token")));

    // A customer id changed through A is in the next token B signs.
    let (s, _) =
        p.send(&p.a.base, "PATCH", &format!("/connections/{conn}"), Some(json!({"customer_id": "moved"}))).await;
    assert_eq!(s, StatusCode::OK);
    let (_, after) = p.mint(&p.b.base, &conn).await;
    let claims = tessera::token::verify::verify(
        after["connection_token"].as_str().expect("token"),
        &set,
        &Default::default(),
        now,
    )
    .expect("verifies");
    assert_eq!(claims.customer_id, "moved");
}

#[tokio::test]
async fn revocations_and_disconnections_through_one_replica_hold_at_once_on_the_other() {
    let Some(p) = pair().await else { return };
    // A second key, revoked through the CLI (as an operator would), refused by both at once.
    let client = cli_json(&p.db, &["client", "create", "--name", "second", "--json"]);
    let created = cli_json(&p.db, &["key", "create", "--client", client["client_id"].as_str().expect("id"), "--json"]);
    let key2 = created["api_key"].as_str().expect("key").to_owned();
    let conn2 = create_connection(&p.http, &p.a.base, &key2).await;
    let mint2 = |base: String| {
        let (http, key2, conn2) = (p.http.clone(), key2.clone(), conn2.clone());
        async move {
            http.post(format!("{base}/connections/{conn2}/token"))
                .header("x-api-key", key2)
                .json(&json!({"scope": "access"}))
                .send()
                .await
                .expect("sent")
                .status()
        }
    };
    assert_eq!(mint2(p.b.base.clone()).await, StatusCode::CREATED);
    cli_json(&p.db, &["key", "revoke", created["key_id"].as_str().expect("key_id"), "--json"]);
    assert_eq!(mint2(p.a.base.clone()).await, StatusCode::UNAUTHORIZED);
    assert_eq!(mint2(p.b.base.clone()).await, StatusCode::UNAUTHORIZED);

    // Disconnect through A: B refuses a token at once.
    let conn = create_connection(&p.http, &p.a.base, &p.key).await;
    assert_eq!(p.mint(&p.b.base, &conn).await.0, StatusCode::CREATED);
    let (s, _) =
        p.send(&p.a.base, "PATCH", &format!("/connections/{conn}"), Some(json!({"status": "disconnected"}))).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(p.mint(&p.b.base, &conn).await.0, StatusCode::CONFLICT);

    // Delete through B: A does not know it any more.
    let conn = create_connection(&p.http, &p.a.base, &p.key).await;
    let (s, _) = p.send(&p.b.base, "DELETE", &format!("/connections/{conn}"), None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(p.mint(&p.a.base, &conn).await.0, StatusCode::NOT_FOUND);
    assert_eq!(p.send(&p.a.base, "GET", &format!("/connections/{conn}"), None).await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn concurrent_patches_and_deletes_through_both_replicas_leave_one_consistent_state() {
    let Some(p) = pair().await else { return };
    for round in 0..5 {
        let conn = create_connection(&p.http, &p.a.base, &p.key).await;
        let path = format!("/connections/{conn}");
        let mut tasks = Vec::new();
        for i in 0..20 {
            let base = if i % 2 == 0 { p.a.base.clone() } else { p.b.base.clone() };
            let (http, key, path) = (p.http.clone(), p.key.clone(), path.clone());
            tasks.push(tokio::spawn(async move {
                let req = if round % 2 == 1 && i == 7 {
                    http.delete(format!("{base}{path}"))
                } else {
                    let tag = format!("r{round}-{i}");
                    http.patch(format!("{base}{path}")).json(&json!({"email": tag, "mobile": format!("+{i}")}))
                };
                let r = req.header("x-api-key", key).send().await.expect("sent");
                let status = r.status();
                (status, r.json::<Value>().await.unwrap_or(Value::Null))
            }));
        }
        let mut outcomes = Vec::new();
        for t in tasks {
            outcomes.push(t.await.expect("joined"));
        }
        for (status, body) in &outcomes {
            assert!(
                [StatusCode::OK, StatusCode::NO_CONTENT, StatusCode::NOT_FOUND].contains(status),
                "unexpected {status} {body}"
            );
            if *status == StatusCode::OK {
                // Each answer is one whole patch: email and mobile from the same request.
                let email = body["email"].as_str().expect("email");
                let i = email.rsplit('-').next().expect("index");
                assert_eq!(body["mobile"], format!("+{i}"));
            }
        }
        let (final_a, body_a) = p.send(&p.a.base, "GET", &path, None).await;
        let (final_b, body_b) = p.send(&p.b.base, "GET", &path, None).await;
        assert_eq!((final_a, &body_a), (final_b, &body_b), "both replicas see one state");
        if round % 2 == 1 {
            assert_eq!(final_a, StatusCode::NOT_FOUND, "the delete won for good");
        } else {
            let i = body_a["email"].as_str().expect("email").rsplit('-').next().expect("i").to_owned();
            assert_eq!(body_a["mobile"], format!("+{i}"), "the stored state is one whole patch");
        }
    }
}

/// The manual's first step (Running several replicas): a role that owns its database, and nothing more, is enough to
/// migrate and serve.
#[tokio::test]
async fn a_role_that_owns_its_database_is_all_tessera_needs() {
    use sqlx::Connection as _;
    let Some(admin_db) = TestDb::new(Backend::Postgres).await else { return };
    drop(admin_db);
    let suffix = ulid::Ulid::new().to_string().to_lowercase();
    let (role, name) = (format!("tessera_role_{suffix}"), format!("tessera_owned_{suffix}"));
    let admin_url = crate::support::admin_url();
    let mut admin = sqlx::PgConnection::connect(&admin_url).await.expect("admin");
    for sql in [
        format!("CREATE ROLE {role} LOGIN PASSWORD 'unused-under-trust'"),
        format!("CREATE DATABASE {name} OWNER {role}"),
    ] {
        sqlx::query(&sql).execute(&mut admin).await.expect(&sql);
    }
    let mut url = url::Url::parse(&admin_url).expect("url");
    url.set_username(&role).expect("user");
    url.set_path(&format!("/{name}"));
    let dir = tempfile::tempdir().expect("a directory");
    let env = [
        ("TESSERA_DATABASE_URL", url.to_string()),
        ("TESSERA_KEK", crate::support::test_kek()),
        ("TESSERA_FIRST_KEY_FILE", dir.path().join("first-api-key").display().to_string()),
    ];
    let migrate = std::process::Command::new(crate::support::server::BIN)
        .arg("migrate")
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .expect("migrate runs");
    assert!(migrate.status.success(), "{}", String::from_utf8_lossy(&migrate.stderr));
    let mut serve = std::process::Command::new(crate::support::server::BIN)
        .args(["serve", "--bind", "127.0.0.1:0"])
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("serve runs");
    let mut key = None;
    for line in std::io::BufRead::lines(std::io::BufReader::new(serve.stdout.take().expect("stdout"))) {
        let line = line.expect("line");
        if let Some(k) = crate::support::server::first_key_in(&line) {
            key = Some(k);
        }
        if line.starts_with("tessera listening on ") {
            break;
        }
    }
    let _ = serve.kill();
    let _ = serve.wait();
    assert!(key.is_some(), "the role's server started and created the default client");
    let owner: String = sqlx::query_scalar(
        "SELECT tableowner::text FROM pg_tables WHERE tablename = 'connections' AND schemaname = 'public'",
    )
    .fetch_one(&mut sqlx::PgConnection::connect(url.as_str()).await.expect("as the role"))
    .await
    .expect("owner");
    assert_eq!(owner, role, "tessera's tables belong to its role");
    for sql in [format!("DROP DATABASE {name} WITH (FORCE)"), format!("DROP ROLE {role}")] {
        sqlx::query(&sql).execute(&mut admin).await.expect(&sql);
    }
}

/// Two `serve` processes on one SQLite file are supported: they serve it as replicas serve one
/// PostgreSQL database (one machine; they take turns on SQLite's one writer).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_on_one_sqlite_file_serve_it_as_replicas() {
    let db = TestDb::new(Backend::Sqlite).await.expect("sqlite");
    let a = start(&db, &[]);
    let b = start(&db, &[]);
    let key = a.bootstrap_key.clone().expect("the first start created the default client");
    assert!(b.bootstrap_key.is_none(), "the second start found it");
    let p = Pair { a, b, key, http: reqwest::Client::new(), db };
    let conn = create_connection(&p.http, &p.a.base, &p.key).await;
    let introspect = |base: String, token: String| {
        let (http, key) = (p.http.clone(), p.key.clone());
        async move {
            let r = http
                .post(format!("{base}/tokens/introspect"))
                .header("x-api-key", key)
                .json(&json!({"token": token}))
                .send()
                .await
                .expect("sent");
            r.json::<Value>().await.expect("json")["active"] == json!(true)
        }
    };
    let mut tokens = Vec::new();
    for i in 0..20 {
        let (minter, reader) = if i % 2 == 0 { (&p.a, &p.b) } else { (&p.b, &p.a) };
        let (status, body) = p.mint(&minter.base, &conn).await;
        assert_eq!(status, StatusCode::CREATED);
        let token = body["connection_token"].as_str().expect("token").to_owned();
        assert!(introspect(reader.base.clone(), token.clone()).await, "minted by one, live on the other");
        tokens.push(token);
    }
    // A revocation through one holds on the other at once.
    let (status, _) = p.send(&p.b.base, "POST", "/tokens/revoke", Some(json!({"token": tokens[0]}))).await;
    assert!(status.is_success(), "{status}");
    assert!(!introspect(p.a.base.clone(), tokens[0].clone()).await);
    // A key revoked from the command line is refused by both.
    let client = cli_json(&p.db, &["client", "create", "--name", "second", "--json"]);
    let created = cli_json(&p.db, &["key", "create", "--client", client["client_id"].as_str().expect("id"), "--json"]);
    let key2 = created["api_key"].as_str().expect("key").to_owned();
    create_connection(&p.http, &p.b.base, &key2).await;
    cli_json(&p.db, &["key", "revoke", created["key_id"].as_str().expect("id"), "--json"]);
    for base in [&p.a.base, &p.b.base] {
        let r = p.http.get(format!("{base}/connections")).header("x-api-key", &key2).send().await.expect("sent");
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{base}");
    }
    // One stops; the other goes on with every token.
    let Pair { a, b, key, http, db: _db } = p;
    drop(a);
    for t in &tokens[1..] {
        let r = http
            .post(format!("{}/tokens/introspect", b.base))
            .header("x-api-key", &key)
            .json(&json!({"token": t}))
            .send()
            .await
            .expect("sent");
        assert_eq!(r.json::<Value>().await.expect("json")["active"], json!(true));
    }
}
