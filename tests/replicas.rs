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
