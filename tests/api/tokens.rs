//! `POST /connections/{connection_id}/token`: every status it answers, tenant isolation, and
//! tokens verified through the JWKS with an independent JWT library.
use std::sync::Arc;

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tessera::config::ServeConfig;
use tessera::domain::connection::{ConnectionPatch, ConnectionStatus};
use tessera::domain::ids::{ConnectionId, TokenId};
use tessera::token::clock::{Clock as _, SystemClock};

use crate::api::helpers::TestApp;
use crate::support::TestDb;

async fn jwks(app: &TestApp) -> JwkSet {
    let r = app.raw("GET", "/.well-known/jwks.json", &[], vec![]).await;
    assert_eq!(r.status, StatusCode::OK);
    serde_json::from_value(r.body).expect("a JWK set")
}

/// Verifies `token` the way a resource server would: find the key by `kid`, pin EdDSA,
/// check issuer, audience and expiry.
pub async fn verify(app: &TestApp, token: &str) -> Value {
    let header = jsonwebtoken::decode_header(token).expect("header");
    assert_eq!(header.alg, Algorithm::EdDSA);
    assert_eq!(header.typ.as_deref(), Some("JWT"));
    let kid = header.kid.expect("kid");
    let set = jwks(app).await;
    let jwk = set.find(&kid).expect("kid is published");
    let mut v = Validation::new(Algorithm::EdDSA);
    v.set_issuer(&["tessera"]);
    v.set_audience(&["subtotal"]);
    v.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
    let data =
        jsonwebtoken::decode::<Value>(token, &DecodingKey::from_jwk(jwk).expect("key"), &v).expect("token verifies");
    data.claims
}

async fn minted_token_verifies_through_the_jwks_with_the_promised_claims(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let conn = app.create_connection(&app.api_key, "cust-42").await;
    let before = SystemClock.now();
    let r = app.mint(&app.api_key, &conn).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let token = r.body["connection_token"].as_str().expect("token");
    let claims = verify(&app, token).await;
    assert_eq!(claims["sub"], conn.as_str());
    assert_eq!(claims["client_id"], app.client_id.as_str());
    assert_eq!(claims["customer_id"], "cust-42");
    assert_eq!(claims["scope"], "access");
    let iat = claims["iat"].as_i64().expect("iat");
    assert!(iat >= before && iat <= SystemClock.now());
    assert_eq!(claims["nbf"].as_i64(), Some(iat));
    assert_eq!(claims["exp"].as_i64(), Some(iat + 900));

    // The issuance record is there, with the key that asked for it.
    let jti = claims["jti"].as_str().expect("jti");
    let rec = app.store.find_issued_token(&TokenId::from_string(jti)).await.expect("store").expect("recorded");
    assert_eq!(rec.connection_id.as_str(), conn);
    assert_eq!(rec.client_id, app.client_id);
    assert_eq!(rec.expires_at, iat + 900);

    // Every token has its own jti.
    let second = app.mint(&app.api_key, &conn).await;
    let claims2 = verify(&app, second.body["connection_token"].as_str().expect("token")).await;
    assert_ne!(claims2["jti"], claims["jti"]);
}

async fn tampered_tokens_do_not_verify(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let conn = app.create_connection(&app.api_key, "c").await;
    let token = app.mint(&app.api_key, &conn).await.body["connection_token"].as_str().expect("token").to_owned();
    let parts: Vec<&str> = token.split('.').collect();
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut payload: Value = serde_json::from_slice(&b64.decode(parts[1]).expect("b64")).expect("json");
    payload["sub"] = json!("someone-else");
    let forged = format!("{}.{}.{}", parts[0], b64.encode(payload.to_string()), parts[2]);
    let set = jwks(&app).await;
    let kid = jsonwebtoken::decode_header(&token).expect("header").kid.expect("kid");
    let key = DecodingKey::from_jwk(set.find(&kid).expect("jwk")).expect("key");
    let mut v = Validation::new(Algorithm::EdDSA);
    v.set_audience(&["subtotal"]);
    assert!(jsonwebtoken::decode::<Value>(&token, &key, &v).is_ok());
    assert!(jsonwebtoken::decode::<Value>(&forged, &key, &v).is_err());
}

async fn hs256_tokens_are_signed_with_the_shared_secret_and_not_published(db: TestDb) {
    let mut config = ServeConfig::for_tests();
    config.tokens.algorithm = "HS256".parse().expect("alg");
    let app = TestApp::spawn_with(db, config, Arc::new(SystemClock)).await;
    let conn = app.create_connection(&app.api_key, "c").await;
    let r = app.mint(&app.api_key, &conn).await;
    assert_eq!(r.status, StatusCode::CREATED);
    let token = r.body["connection_token"].as_str().expect("token");
    let header = jsonwebtoken::decode_header(token).expect("header");
    assert_eq!(header.alg, Algorithm::HS256);
    let kid = header.kid.expect("kid");
    assert!(jwks(&app).await.keys.iter().all(|k| k.common.key_id.as_deref() != Some(kid.as_str())));
    // The secret a verifier shares is the sealed key in the keyring.
    let record =
        app.store.signing_keys().await.expect("keys").into_iter().find(|k| k.kid.as_str() == kid).expect("stored");
    let secret = app.kek.open(kid.as_bytes(), &record.private_key_sealed).expect("opens");
    let mut v = Validation::new(Algorithm::HS256);
    v.set_audience(&["subtotal"]);
    let claims = jsonwebtoken::decode::<Value>(token, &DecodingKey::from_secret(&secret), &v).expect("verifies").claims;
    assert_eq!(claims["sub"], conn.as_str());
    assert!(jsonwebtoken::decode::<Value>(token, &DecodingKey::from_secret(b"another secret"), &v).is_err());
}

async fn credentials_are_checked_before_the_body(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let conn = app.create_connection(&app.api_key, "c").await;
    let path = format!("/connections/{conn}/token");
    let json = ("content-type", "application/json");

    let missing = app.raw("POST", &path, &[json], b"{".to_vec()).await;
    assert_eq!(missing.status, StatusCode::UNAUTHORIZED);
    assert_eq!(missing.headers["www-authenticate"], "Bearer");
    assert!(missing.body["detail"].as_str().expect("detail").starts_with("Not authenticated"));

    for bad in ["nope", "tsk_01ARZ3NDEKTSV4RRFFQ69G5FAV_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"] {
        let r = app.raw("POST", &path, &[json, ("x-api-key", bad)], b"{".to_vec()).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        assert_eq!(r.body, json!({"detail": "Invalid API key"}));
        assert_eq!(r.headers["www-authenticate"], "Bearer");
    }
    // A real key id with a wrong secret.
    let real = &app.api_key;
    let wrong_secret = format!("{}{}", &real[..real.len() - 4], "AAAA");
    let r = app.raw("POST", &path, &[json, ("x-api-key", &wrong_secret)], b"{\"scope\":\"access\"}".to_vec()).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

async fn bearer_forms_are_accepted_and_x_api_key_wins(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let conn = app.create_connection(&app.api_key, "c").await;
    let path = format!("/connections/{conn}/token");
    let body = b"{\"scope\":\"access\"}".to_vec();
    for auth in
        [format!("Bearer {}", app.api_key), format!("Bearer: {}", app.api_key), format!("bearer {}", app.api_key)]
    {
        let r = app
            .raw("POST", &path, &[("content-type", "application/json"), ("authorization", &auth)], body.clone())
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{auth:?}: {}", r.body);
    }
    let r = app
        .raw(
            "POST",
            &path,
            &[
                ("content-type", "application/json"),
                ("x-api-key", "wrong"),
                ("authorization", &format!("Bearer {}", app.api_key)),
            ],
            body,
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "X-Api-Key is the credential when both are sent");
}

async fn a_revoked_key_stops_working_at_once(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let second_key = app.new_key(&app.client_id).await;
    let conn = app.create_connection(&second_key, "c").await;
    assert_eq!(app.mint(&second_key, &conn).await.status, StatusCode::CREATED);
    let (key_id, _) = tessera::auth::api_key::PlainApiKey::parse(&second_key).expect("parses");
    app.core
        .keys()
        .revoke(tessera::service::Actor::CommandLine, None, &key_id, SystemClock.now())
        .await
        .expect("revoked");
    let r = app.mint(&second_key, &conn).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.body, json!({"detail": "Invalid API key"}));
    // The client's other key still works.
    assert_eq!(app.mint(&app.api_key, &conn).await.status, StatusCode::CREATED);

    // The token endpoint knows a key it has served from memory; revoked behind its back (as
    // by the CLI or another replica), the key gets 401 whatever else is wrong with the request.
    let missing = ConnectionId::generate().to_string();
    let cases: [(&str, &str, Vec<u8>); 5] = [
        (conn.as_str(), "", br#"{"scope":"access"}"#.to_vec()),
        (conn.as_str(), "", br#"{"scope":"refresh"}"#.to_vec()),
        (conn.as_str(), "", b"{not json".to_vec()),
        (missing.as_str(), "", br#"{"scope":"access"}"#.to_vec()),
        (conn.as_str(), "replayed", br#"{"scope":"access"}"#.to_vec()),
    ];
    for (connection, idempotency_key, body) in cases {
        let key = app.new_key(&app.client_id).await;
        let path = format!("/connections/{connection}/token");
        let mut headers = vec![("x-api-key", key.as_str()), ("content-type", "application/json")];
        if !idempotency_key.is_empty() {
            headers.push(("idempotency-key", idempotency_key));
        }
        let first = app.raw("POST", &path, &headers, body.clone()).await;
        assert_ne!(first.status, StatusCode::UNAUTHORIZED, "{}", first.body);
        let (key_id, _) = tessera::auth::api_key::PlainApiKey::parse(&key).expect("parses");
        app.core
            .keys()
            .revoke(tessera::service::Actor::CommandLine, None, &key_id, SystemClock.now())
            .await
            .expect("revoked");
        let r = app.raw("POST", &path, &headers, body).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{connection} {:?}", r.body);
        assert_eq!(r.body, json!({"detail": "Invalid API key"}));
    }
}

async fn another_clients_connection_is_indistinguishable_from_a_missing_one(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let (_, other_key) = app.new_client("other").await;
    let theirs = app.create_connection(&other_key, "c").await;
    let foreign = app.mint(&app.api_key, &theirs).await;
    let missing = app.mint(&app.api_key, &ConnectionId::generate().to_string()).await;
    let garbage = app.mint(&app.api_key, "not-a-ulid").await;
    for r in [&foreign, &missing, &garbage] {
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        assert_eq!(r.body, json!({"detail": "Connection not found"}));
    }
    assert_eq!(app.mint(&other_key, &theirs).await.status, StatusCode::CREATED);
}

async fn disconnected_is_409_and_every_other_status_gets_a_token(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let conn = app.create_connection(&app.api_key, "c").await;
    let id = ConnectionId::from_string(conn.clone());
    for status in [ConnectionStatus::Initialized, ConnectionStatus::Active, ConnectionStatus::Unauthenticated] {
        let patch = ConnectionPatch { status: Some(status), ..Default::default() };
        let at = tessera::storage::Change::at(SystemClock.now());
        app.core.connections().apply_patch(&app.client_id, &id, &patch, &at).await.expect("update").expect("found");
        assert_eq!(app.mint(&app.api_key, &conn).await.status, StatusCode::CREATED, "{status}");
    }
    let r =
        app.call("PATCH", &format!("/connections/{conn}"), &app.api_key, Some(json!({"status": "disconnected"}))).await;
    assert_eq!(r.status, StatusCode::OK);
    let r = app.mint(&app.api_key, &conn).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert!(r.body["detail"].as_str().expect("detail").contains("disconnected"));
}

async fn oversized_bodies_are_413_with_a_detail(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let conn = app.create_connection(&app.api_key, "c").await;
    let mut body = b"{\"scope\":\"access\",\"pad\":\"".to_vec();
    body.extend(std::iter::repeat_n(b'x', 70 * 1024));
    body.extend(b"\"}");
    let r = app
        .raw(
            "POST",
            &format!("/connections/{conn}/token"),
            &[("x-api-key", &app.api_key), ("content-type", "application/json")],
            body,
        )
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(r.body["detail"].as_str().expect("detail").contains("too large"));
}

async fn wrong_method_and_unknown_path_answer_like_fastapi(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let conn = app.create_connection(&app.api_key, "c").await;
    let r = app.call("PUT", &format!("/connections/{conn}/token"), &app.api_key, None).await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(r.body, json!({"detail": "Method Not Allowed"}));
    assert_eq!(r.headers["allow"], "POST");
    let r = app.call("GET", "/nope", &app.api_key, None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.body, json!({"detail": "Not Found"}));
}

async fn hostile_bodies_never_produce_a_5xx(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let conn = app.create_connection(&app.api_key, "c").await;
    let path = format!("/connections/{conn}/token");
    let mut bodies: Vec<Vec<u8>> = vec![
        b"NaN".to_vec(),
        b"{\"scope\":NaN}".to_vec(),
        b"{\"scope\":1e400}".to_vec(),
        b"{\"scope\":\"\\ud800\"}".to_vec(),
        b"\xff\xfe\x00".to_vec(),
        vec![b'['; 5000],
        vec![0u8; 100],
        b"{\"scope\":123456789012345678901234567890123}".to_vec(),
    ];
    bodies.push((0..=255u8).collect());
    // Deep nesting, valid and not: answered, never a stack overflow.
    bodies.push(b"{\"a\":".repeat(970));
    // Under the body limit (a larger body is refused with 413 before it is read, and the
    // client may then fail to finish sending it): nesting 12,000 deep.
    bodies.push(b"{\"a\":".repeat(12_000));
    bodies.push([b"[".repeat(960), b"]".repeat(960)].concat());
    bodies.push([b"{\"scope\":".to_vec(), b"{\"a\":".repeat(959), b"1".to_vec(), b"}".repeat(960)].concat());
    for body in bodies {
        let r = app
            .raw("POST", &path, &[("x-api-key", &app.api_key), ("content-type", "application/json")], body.clone())
            .await;
        assert!(r.status.is_client_error(), "{:?} -> {} {}", String::from_utf8_lossy(&body), r.status, r.body);
        // Echoes of deeply nested input are deeper than the test's JSON reader follows.
        let raw_detail = r.body["_raw"].as_str().is_some_and(|t| t.starts_with("{\"detail\""));
        assert!(r.body.get("detail").is_some() || raw_detail, "{}", r.body);
    }
    let r = app
        .raw(
            "POST",
            &path,
            &[("x-api-key", &app.api_key), ("content-type", "application/json")],
            b"{\"scope\":NaN}".to_vec(),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "FastAPI answers 500 here; tessera answers 422");
    assert_eq!(r.body["detail"][0]["type"], "literal_error");
}

/// A token is signed while its record commits, with the customer id the connection's previous
/// token carried; a changed customer id must still be in the very next token.
async fn a_changed_customer_id_is_in_the_next_token(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let conn = app.create_connection(&app.api_key, "cust-1").await;
    let customer = async |app: &TestApp| {
        let r = app.mint(&app.api_key, &conn).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        verify(app, r.body["connection_token"].as_str().expect("token")).await["customer_id"].clone()
    };
    assert_eq!(customer(&app).await, "cust-1");
    assert_eq!(customer(&app).await, "cust-1");
    let r =
        app.call("PATCH", &format!("/connections/{conn}"), &app.api_key, Some(json!({"customer_id": "cust-2"}))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(customer(&app).await, "cust-2");
    assert_eq!(customer(&app).await, "cust-2");
}

crate::both_backends!(
    a_changed_customer_id_is_in_the_next_token,
    minted_token_verifies_through_the_jwks_with_the_promised_claims,
    tampered_tokens_do_not_verify,
    hs256_tokens_are_signed_with_the_shared_secret_and_not_published,
    credentials_are_checked_before_the_body,
    bearer_forms_are_accepted_and_x_api_key_wins,
    a_revoked_key_stops_working_at_once,
    another_clients_connection_is_indistinguishable_from_a_missing_one,
    disconnected_is_409_and_every_other_status_gets_a_token,
    oversized_bodies_are_413_with_a_detail,
    wrong_method_and_unknown_path_answer_like_fastapi,
    hostile_bodies_never_produce_a_5xx
);
