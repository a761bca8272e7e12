//! Introspection, revocation, and connection tokens as credentials.
use std::sync::Arc;

use base64::Engine as _;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tessera::config::ServeConfig;
use tessera::domain::ids::TokenId;
use tessera::token::clock::{Clock as _, ManualClock};

use crate::api::helpers::TestApp;
use crate::support::TestDb;

async fn token(app: &TestApp, key: &str, conn: &str) -> String {
    let r = app.mint(key, conn).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    r.body["connection_token"].as_str().expect("token").to_owned()
}

async fn introspect(app: &TestApp, key: &str, token: &str) -> Value {
    let r = app.call("POST", "/tokens/introspect", key, Some(json!({"token": token}))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body
}

fn b64(v: &Value) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
}

async fn introspection_answers_only_for_the_callers_live_tokens(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let (_, other_key) = app.new_client("other").await;
    let conn = app.create_connection(&app.api_key, "c").await;
    let t = token(&app, &app.api_key, &conn).await;

    let live = introspect(&app, &app.api_key, &t).await;
    assert_eq!(live["active"], true);
    assert_eq!(live["sub"], conn.as_str());
    assert_eq!(live["client_id"], app.client_id.as_str());
    assert_eq!(live["scope"], "access");
    assert!(live["exp"].is_i64() && live["jti"].is_string());

    // The form encoding of RFC 7662 works too.
    let r = app
        .raw(
            "POST",
            "/tokens/introspect",
            &[("x-api-key", &app.api_key), ("content-type", "application/x-www-form-urlencoded")],
            format!("token={t}&token_type_hint=access_token").into_bytes(),
        )
        .await;
    assert_eq!(r.body["active"], true);

    // Another client's token is indistinguishable from garbage.
    let inactive = json!({"active": false});
    assert_eq!(introspect(&app, &other_key, &t).await, inactive);
    assert_eq!(introspect(&app, &app.api_key, "garbage").await, inactive);
    // Tampered payload, alg none, HS256 signed with the public key, unknown kid: all refused.
    let parts: Vec<&str> = t.split('.').collect();
    let header: Value =
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(parts[0]).expect("b64"))
            .expect("json");
    let mut payload: Value =
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(parts[1]).expect("b64"))
            .expect("json");
    payload["exp"] = json!(payload["exp"].as_i64().expect("exp") + 100_000);
    let tampered = format!("{}.{}.{}", parts[0], b64(&payload), parts[2]);
    let none = format!("{}.{}.", b64(&json!({"alg": "none", "typ": "JWT", "kid": header["kid"]})), parts[1]);
    let jwks = app.raw("GET", "/.well-known/jwks.json", &[], vec![]).await.body;
    let public = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(jwks["keys"][0]["x"].as_str().expect("x"))
        .expect("b64");
    let hs_header = b64(&json!({"alg": "HS256", "typ": "JWT", "kid": header["kid"]}));
    let input = format!("{hs_header}.{}", parts[1]);
    use hmac::Mac as _;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&public).expect("hmac");
    mac.update(input.as_bytes());
    let confused =
        format!("{input}.{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()));
    let unknown = format!("{}.{}.{}", b64(&json!({"alg": "EdDSA", "typ": "JWT", "kid": "nope"})), parts[1], parts[2]);
    for bad in [&tampered, &none, &confused, &unknown] {
        assert_eq!(introspect(&app, &app.api_key, bad).await, inactive, "{bad}");
        // The same tokens are no credential either.
        let r = app
            .raw(
                "GET",
                &format!("/connections/{conn}"),
                &[("x-api-key", &app.api_key), ("authorization", &format!("Bearer {bad}"))],
                vec![],
            )
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
    // Errors in RFC 6749's form.
    let r = app.call("POST", "/tokens/introspect", &app.api_key, Some(json!({}))).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.body["error"], "invalid_request");
    assert_eq!(r.body["error_description"], "token: Field required");
    let r = app.raw("POST", "/tokens/introspect", &[("content-type", "application/json")], b"{}".to_vec()).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.body["error"], "invalid_client");
}

async fn expired_and_not_yet_valid_tokens_are_inactive(db: TestDb) {
    let clock = Arc::new(ManualClock::new(1_800_000_000));
    // A clock of its own, years from the database's: the clock check is off here.
    let mut config = ServeConfig::for_tests();
    config.tokens.clock_max_skew = 0;
    let app = TestApp::spawn_with(db, config, clock.clone()).await;
    let conn = app.create_connection(&app.api_key, "c").await;
    let t = token(&app, &app.api_key, &conn).await;
    assert_eq!(introspect(&app, &app.api_key, &t).await["active"], true);
    let exp = introspect(&app, &app.api_key, &t).await["exp"].as_i64().expect("exp");
    // Active up to exp and not from exp on (RFC 7662's validity window: no leeway).
    clock.advance(exp - 1 - clock.now());
    assert_eq!(introspect(&app, &app.api_key, &t).await["active"], true, "a second before exp");
    clock.advance(1);
    assert_eq!(introspect(&app, &app.api_key, &t).await, json!({"active": false}), "expired at exp");
    clock.advance(60);
    // A token minted "in the future" (clock skew beyond leeway) is not valid yet.
    let future = token(&app, &app.api_key, &conn).await;
    clock.advance(-(3 * 600));
    assert_eq!(introspect(&app, &app.api_key, &future).await, json!({"active": false}), "not yet valid");
    let _ = clock.now();
}

async fn revocation_by_token_or_jti_is_immediate_and_idempotent(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let (_, other_key) = app.new_client("other").await;
    let conn = app.create_connection(&app.api_key, "c").await;
    let by_token = token(&app, &app.api_key, &conn).await;
    let by_jti = token(&app, &app.api_key, &conn).await;
    let jti = introspect(&app, &app.api_key, &by_jti).await["jti"].as_str().expect("jti").to_owned();

    // Another client cannot revoke it, and cannot tell.
    let r = app.call("POST", "/tokens/revoke", &other_key, Some(json!({"token": by_token}))).await;
    assert_eq!((r.status, r.body), (StatusCode::OK, json!({})));
    assert_eq!(introspect(&app, &app.api_key, &by_token).await["active"], true);

    for _ in 0..2 {
        let r = app.call("POST", "/tokens/revoke", &app.api_key, Some(json!({"token": by_token}))).await;
        assert_eq!((r.status, r.body), (StatusCode::OK, json!({})));
        let r = app
            .raw(
                "POST",
                "/tokens/revoke",
                &[("x-api-key", &app.api_key), ("content-type", "application/x-www-form-urlencoded")],
                format!("jti={jti}").into_bytes(),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK);
    }
    assert_eq!(introspect(&app, &app.api_key, &by_token).await, json!({"active": false}));
    assert_eq!(introspect(&app, &app.api_key, &by_jti).await, json!({"active": false}));
    let rec = app.store.find_issued_token(&TokenId::from_string(jti)).await.expect("query").expect("recorded");
    assert!(rec.revoked_at.is_some());
    let r = app.call("POST", "/tokens/revoke", &app.api_key, Some(json!({}))).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.body["error"], "invalid_request");
    // Garbage revokes nothing and says so in the same words.
    let r = app.call("POST", "/tokens/revoke", &app.api_key, Some(json!({"token": "x.y.z"}))).await;
    assert_eq!((r.status, r.body), (StatusCode::OK, json!({})));
}

async fn disconnecting_or_deleting_a_connection_revokes_its_tokens(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let a = app.create_connection(&app.api_key, "c").await;
    let b = app.create_connection(&app.api_key, "c").await;
    let (ta, tb) = (token(&app, &app.api_key, &a).await, token(&app, &app.api_key, &b).await);
    let jti_a = introspect(&app, &app.api_key, &ta).await["jti"].as_str().expect("jti").to_owned();
    let r =
        app.call("PATCH", &format!("/connections/{a}"), &app.api_key, Some(json!({"status": "disconnected"}))).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(introspect(&app, &app.api_key, &ta).await, json!({"active": false}));
    let rec = app.store.find_issued_token(&TokenId::from_string(jti_a)).await.expect("query").expect("recorded");
    assert!(rec.revoked_at.is_some(), "the record says revoked");
    assert_eq!(introspect(&app, &app.api_key, &tb).await["active"], true, "other connections untouched");
    let r = app.call("DELETE", &format!("/connections/{b}"), &app.api_key, None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(introspect(&app, &app.api_key, &tb).await, json!({"active": false}));
}

async fn a_connection_token_beside_the_key_must_be_live_and_for_that_connection(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let (_, other_key) = app.new_client("other").await;
    let conn = app.create_connection(&app.api_key, "c").await;
    let other_conn = app.create_connection(&app.api_key, "c").await;
    let theirs = app.create_connection(&other_key, "c").await;
    let t = token(&app, &app.api_key, &conn).await;
    let get = |key: String, path: String, bearer: String| {
        let app = &app;
        async move {
            app.raw("GET", &path, &[("x-api-key", &key), ("authorization", &format!("Bearer {bearer}"))], vec![])
                .await
                .status
        }
    };
    assert_eq!(get(app.api_key.clone(), format!("/connections/{conn}"), t.clone()).await, StatusCode::OK);
    assert_eq!(
        get(app.api_key.clone(), format!("/connections/{other_conn}"), t.clone()).await,
        StatusCode::UNAUTHORIZED,
        "a token for another connection"
    );
    assert_eq!(
        get(other_key.clone(), format!("/connections/{theirs}"), t.clone()).await,
        StatusCode::UNAUTHORIZED,
        "a token of another client"
    );
    app.call("POST", "/tokens/revoke", &app.api_key, Some(json!({"token": t}))).await;
    assert_eq!(get(app.api_key.clone(), format!("/connections/{conn}"), t.clone()).await, StatusCode::UNAUTHORIZED);
}

async fn the_activity_log_records_every_change_newest_first_with_pages(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let (_, other_key) = app.new_client("other").await;
    let key_id = app.api_key.split('_').nth(1).expect("key id").to_owned();
    let conn = app.create_connection(&app.api_key, "c").await;
    app.call("PATCH", &format!("/connections/{conn}"), &app.api_key, Some(json!({"email": "a@b.co"}))).await;
    let t1 = token(&app, &app.api_key, &conn).await;
    let t2 = token(&app, &app.api_key, &conn).await;
    app.call("POST", "/tokens/revoke", &app.api_key, Some(json!({"token": t1}))).await;
    app.call("PATCH", &format!("/connections/{conn}"), &app.api_key, Some(json!({"status": "disconnected"}))).await;

    let path = format!("/connections/{conn}/activity");
    let all = app.call("GET", &path, &app.api_key, None).await;
    assert_eq!(all.status, StatusCode::OK, "{}", all.body);
    let events = all.body["events"].as_array().expect("events").clone();
    let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().expect("type")).collect();
    assert_eq!(kinds, ["status_changed", "token_revoked", "token_issued", "token_issued", "updated", "created"]);
    assert_eq!(events[0]["data"], json!({"from": "initialized", "to": "disconnected", "tokens_revoked": 1}));
    assert_eq!(events[4]["data"], json!({"fields": ["email"]}));
    assert!(events.iter().all(|e| e["api_key_id"] == key_id.as_str() && e["at"].is_i64()));
    assert_eq!(all.body["has_more"], false);
    let text = all.body.to_string();
    for secret in [&t1, &t2, &app.api_key] {
        assert!(!text.contains(secret.as_str()), "the log never holds a secret or a whole token");
    }

    // Cursor pagination walks the same events.
    let mut walked = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let q = match &cursor {
            Some(c) => format!("{path}?limit=2&starting_after={c}"),
            None => format!("{path}?limit=2"),
        };
        let page = app.call("GET", &q, &app.api_key, None).await.body;
        walked.extend(page["events"].as_array().expect("events").iter().cloned());
        if page["has_more"] == false {
            break;
        }
        cursor = Some(page["next_cursor"].as_str().expect("cursor").to_owned());
    }
    assert_eq!(walked, events);

    for (limit, kind) in [("0", "greater_than_equal"), ("101", "less_than_equal"), ("abc", "int_parsing")] {
        let r = app.call("GET", &format!("{path}?limit={limit}"), &app.api_key, None).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(r.body["detail"][0]["type"], kind);
        assert_eq!(r.body["detail"][0]["loc"], json!(["query", "limit"]));
    }
    assert_eq!(app.call("GET", &path, &other_key, None).await.status, StatusCode::NOT_FOUND);
    // A connection token beside the key must be live and for this connection.
    let r =
        app.raw("GET", &path, &[("x-api-key", &app.api_key), ("authorization", &format!("Bearer {t2}"))], vec![]).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "its tokens were revoked on disconnect");
}

async fn idempotent_retries_return_the_first_answer(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let (_, other_key) = app.new_client("other").await;
    let conn = app.create_connection(&app.api_key, "c").await;
    let path = format!("/connections/{conn}/token");
    let send = |key: String, header: &'static str, idem: &'static str, path: String, body: Value| {
        let app = &app;
        async move {
            app.raw(
                "POST",
                &path,
                &[("x-api-key", &key), ("content-type", "application/json"), (header, idem)],
                body.to_string().into_bytes(),
            )
            .await
        }
    };
    let scope = json!({"scope": "access"});
    let first = send(app.api_key.clone(), "x-subtotal-idempotency-key", "k-1", path.clone(), scope.clone()).await;
    let again = send(app.api_key.clone(), "x-subtotal-idempotency-key", "k-1", path.clone(), scope.clone()).await;
    assert_eq!(first.status, StatusCode::CREATED);
    assert_eq!((again.status, &again.body), (StatusCode::CREATED, &first.body), "the same token again");
    let alias = send(app.api_key.clone(), "idempotency-key", "k-1", path.clone(), scope.clone()).await;
    assert_eq!(alias.body, first.body, "Idempotency-Key is the same key");

    // The same key for a different request is refused.
    let other_conn = app.create_connection(&app.api_key, "c").await;
    let r = send(
        app.api_key.clone(),
        "x-subtotal-idempotency-key",
        "k-1",
        format!("/connections/{other_conn}/token"),
        scope.clone(),
    )
    .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert!(r.body["detail"].as_str().expect("detail").contains("different request"));

    // Keys are per client.
    let theirs = app.create_connection(&other_key, "c").await;
    let r = send(
        other_key.clone(),
        "x-subtotal-idempotency-key",
        "k-1",
        format!("/connections/{theirs}/token"),
        scope.clone(),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED);

    // Concurrent requests with one key yield one result.
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let (http, url, key) = (app.http.clone(), format!("{}{path}", app.base), app.api_key.clone());
        tasks.push(tokio::spawn(async move {
            let r = http
                .post(url)
                .header("x-api-key", key)
                .header("x-subtotal-idempotency-key", "k-concurrent")
                .json(&json!({"scope": "access"}))
                .send()
                .await
                .expect("sent");
            (r.status().as_u16(), r.json::<Value>().await.expect("json"))
        }));
    }
    let mut answers = Vec::new();
    for t in tasks {
        answers.push(t.await.expect("joined"));
    }
    assert!(answers.iter().all(|a| a == &answers[0] && a.0 == 201), "{answers:?}");
    let events = app.call("GET", &format!("/connections/{conn}/activity"), &app.api_key, None).await.body;
    let issued = events["events"].as_array().expect("events").iter().filter(|e| e["type"] == "token_issued").count();
    assert_eq!(issued, 2, "one token for k-1 and one for k-concurrent");

    // Creating a connection twice with one key creates one connection.
    let body = json!({"customer_id": "idem", "retailer_id": "walmart"});
    let a = send(app.api_key.clone(), "x-subtotal-idempotency-key", "c-1", "/connections".into(), body.clone()).await;
    let b = send(app.api_key.clone(), "x-subtotal-idempotency-key", "c-1", "/connections".into(), body.clone()).await;
    assert_eq!((a.status, b.status), (StatusCode::CREATED, StatusCode::CREATED));
    assert_eq!(a.body, b.body);
    let listed = app.call("GET", "/connections?customer_id=idem", &app.api_key, None).await.body;
    assert_eq!(listed["connections"].as_array().expect("list").len(), 1);
    let r = send(app.api_key.clone(), "x-subtotal-idempotency-key", "", "/connections".into(), body).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "an empty key is refused");
}

crate::both_backends!(
    idempotent_retries_return_the_first_answer,
    the_activity_log_records_every_change_newest_first_with_pages,
    introspection_answers_only_for_the_callers_live_tokens,
    expired_and_not_yet_valid_tokens_are_inactive,
    revocation_by_token_or_jti_is_immediate_and_idempotent,
    disconnecting_or_deleting_a_connection_revokes_its_tokens,
    a_connection_token_beside_the_key_must_be_live_and_for_that_connection,
);
