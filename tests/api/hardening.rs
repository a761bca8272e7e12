//! What an attacker or a careless client sends, and races an operator can cause: none of it
//! may fail another tenant's requests, answer a 5xx, or leave a record that contradicts what
//! was answered.
use std::sync::Arc;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tessera::crypto::kek::Kek;
use tessera::domain::ids::TokenId;
use tessera::token::keyring::{Algorithm, KeyState, new_key_record};

use crate::api::helpers::TestApp;
use crate::support::TestDb;

/// Connection ids no connection can have: they are answered like unknown ids, at the edge.
const HOSTILE_IDS: &[&str] = &[
    "%00",
    "01JAAAAAAAAAAAAAAAAAAAAA%00",
    "%00%00%00%00%00%00%00%00%00%00%00%00%00%00%00%00%00%00%00%00%00%00%00%00%00%00",
    "IIIIIIIIIIIIIIIIIIIIIIIIII",
    "01jaaaaaaaaaaaaaaaaaaaaaaa",
    "x%27%20OR%201%3D1--",
    "%E2%80%AE",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
];

async fn hostile_ids_from_one_client_never_fail_anothers_tokens(db: TestDb) {
    let app = Arc::new(TestApp::spawn(db).await);
    let (_, attacker) = app.new_client("attacker").await;
    let conn = app.create_connection(&app.api_key, "victim").await;

    let victim = {
        let app = app.clone();
        tokio::spawn(async move {
            let mut statuses = Vec::new();
            for _ in 0..300 {
                statuses.push(app.mint(&app.api_key, &conn).await.status);
            }
            statuses
        })
    };
    let mut attacks = Vec::new();
    for _ in 0..4 {
        let (app, attacker) = (app.clone(), attacker.clone());
        attacks.push(tokio::spawn(async move {
            let mut answers = Vec::new();
            for id in HOSTILE_IDS {
                let path = format!("/connections/{id}");
                answers.push(app.mint(&attacker, id).await);
                answers.push(app.call("GET", &path, &attacker, None).await);
                answers.push(app.call("PATCH", &path, &attacker, Some(json!({"email": "a@b.c"}))).await);
                answers.push(app.call("GET", &format!("{path}/activity"), &attacker, None).await);
                answers.push(app.call("DELETE", &path, &attacker, None).await);
            }
            answers
        }));
    }
    for attack in attacks {
        for r in attack.await.expect("attacker") {
            assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
            assert_eq!(r.body, json!({"detail": "Connection not found"}));
        }
    }
    let statuses = victim.await.expect("victim");
    let failed: Vec<_> = statuses.iter().filter(|s| **s != StatusCode::CREATED).collect();
    assert!(failed.is_empty(), "the victim's token requests failed: {failed:?}");

    // Where the id cannot be refused at the edge, text the database cannot hold is a 4xx too.
    let own = app.create_connection(&attacker, "a").await;
    let probes = [
        app.call("GET", "/connections?customer_id=%00", &attacker, None).await,
        app.call("POST", "/connections", &attacker, Some(json!({"customer_id": "a\u{0}", "retailer_id": "r"}))).await,
        app.call("PATCH", &format!("/connections/{own}"), &attacker, Some(json!({"email": "\u{0}"}))).await,
        app.call("POST", "/tokens/revoke", &attacker, Some(json!({"jti": "\u{0}"}))).await,
        app.call("POST", "/tokens/introspect", &attacker, Some(json!({"token": "a.\u{0}.b"}))).await,
        app.call("GET", &format!("/connections/{own}/activity?starting_after=%00"), &attacker, None).await,
    ];
    for r in probes {
        assert!(r.status.is_success() || r.status.is_client_error(), "{} {}", r.status, r.body);
        assert!(!r.body.is_null(), "every answer has a body");
    }
    // A body the token endpoint refuses is still answered first, as for an unknown id.
    let r = app.call("POST", "/connections/%00/token", &attacker, Some(json!({"scope": "nope"}))).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
}

async fn idempotent_replays_recheck_what_the_first_answer_depended_on(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let mint = async |conn: &str, idem: &str| {
        app.raw(
            "POST",
            &format!("/connections/{conn}/token"),
            &[("x-api-key", &app.api_key), ("content-type", "application/json"), ("idempotency-key", idem)],
            br#"{"scope": "access"}"#.to_vec(),
        )
        .await
    };
    let token_of = |r: &crate::api::helpers::Response| r.body["connection_token"].as_str().expect("token").to_owned();

    // Disconnected since: the retry gets the 409 a new request would.
    let a = app.create_connection(&app.api_key, "a").await;
    let first = mint(&a, "k-a").await;
    assert_eq!(first.status, StatusCode::CREATED);
    let again = mint(&a, "k-a").await;
    assert_eq!((again.status, token_of(&again)), (StatusCode::CREATED, token_of(&first)), "a replay, not a new token");
    let r =
        app.call("PATCH", &format!("/connections/{a}"), &app.api_key, Some(json!({"status": "disconnected"}))).await;
    assert_eq!(r.status, StatusCode::OK);
    let replay = mint(&a, "k-a").await;
    assert_eq!(replay.status, StatusCode::CONFLICT, "{}", replay.body);
    assert!(replay.body["detail"].as_str().expect("detail").contains("disconnected"));

    // Deleted since: 404.
    let b = app.create_connection(&app.api_key, "b").await;
    assert_eq!(mint(&b, "k-b").await.status, StatusCode::CREATED);
    assert_eq!(app.call("DELETE", &format!("/connections/{b}"), &app.api_key, None).await.status, 204);
    let replay = mint(&b, "k-b").await;
    assert_eq!((replay.status, replay.body), (StatusCode::NOT_FOUND, json!({"detail": "Connection not found"})));

    // The token itself revoked since: 409, never a revoked token handed out again.
    let c = app.create_connection(&app.api_key, "c").await;
    let first = mint(&c, "k-c").await;
    let r = app.call("POST", "/tokens/revoke", &app.api_key, Some(json!({"token": token_of(&first)}))).await;
    assert_eq!(r.status, StatusCode::OK);
    let replay = mint(&c, "k-c").await;
    assert_eq!(replay.status, StatusCode::CONFLICT, "{}", replay.body);
    assert!(replay.body["detail"].as_str().expect("detail").contains("revoked"));
}

/// A replay of a token that has expired since is refused like one of a revoked token: `409`,
/// never a dead token answered `201`.
async fn an_idempotent_retry_never_replays_an_expired_token(db: TestDb) {
    use tessera::token::clock::ManualClock;
    let clock = Arc::new(ManualClock::new(tessera::token::clock::Clock::now(&tessera::token::clock::SystemClock)));
    // The test moves its own clock: the clock check is off here.
    let mut config = tessera::config::ServeConfig::for_tests();
    config.tokens.token_ttl = 60;
    config.tokens.clock_max_skew = 0;
    let app = TestApp::spawn_with(db, config, clock.clone()).await;
    let conn = app.create_connection(&app.api_key, "a").await;
    let mint = async || {
        app.raw(
            "POST",
            &format!("/connections/{conn}/token"),
            &[("x-api-key", &app.api_key), ("content-type", "application/json"), ("idempotency-key", "k")],
            br#"{"scope": "access"}"#.to_vec(),
        )
        .await
    };
    let first = mint().await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    clock.advance(59);
    let again = mint().await;
    assert_eq!((again.status, &again.body), (StatusCode::CREATED, &first.body), "still live: replayed");
    clock.advance(1);
    let replay = mint().await;
    assert_eq!(replay.status, StatusCode::CONFLICT, "{}", replay.body);
    assert!(replay.body["detail"].as_str().expect("detail").contains("expired"), "{}", replay.body);
    clock.advance(2 * 3600);
    assert_eq!(mint().await.status, StatusCode::CONFLICT, "and later still");
}

async fn disconnecting_while_tokens_are_minted_revokes_exactly_those_tokens(db: TestDb) {
    let app = Arc::new(TestApp::spawn(db).await);
    for _ in 0..3 {
        let conn = app.create_connection(&app.api_key, "race").await;
        let mut minters = Vec::new();
        for _ in 0..16 {
            let (app, conn) = (app.clone(), conn.clone());
            minters.push(tokio::spawn(async move {
                let mut tokens = Vec::new();
                for _ in 0..40 {
                    let r = app.mint(&app.api_key, &conn).await;
                    match r.status {
                        StatusCode::CREATED => tokens.push(r.body["connection_token"].as_str().expect("t").to_owned()),
                        StatusCode::CONFLICT => break,
                        other => panic!("unexpected {other}: {}", r.body),
                    }
                }
                tokens
            }));
        }
        tokio::time::sleep(std::time::Duration::from_millis(30)).await;
        let r = app
            .call("PATCH", &format!("/connections/{conn}"), &app.api_key, Some(json!({"status": "disconnected"})))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let mut tokens = Vec::new();
        for m in minters {
            tokens.extend(m.await.expect("minter"));
        }
        assert!(!tokens.is_empty());
        for token in &tokens {
            let jti = crate::support::server::jti_of(token);
            let rec = app.store.find_issued_token(&TokenId::from_string(jti)).await.expect("query").expect("recorded");
            assert!(rec.revoked_at.is_some(), "a token answered before the disconnection is revoked by it");
        }
        let events = app.call("GET", &format!("/connections/{conn}/activity?limit=100"), &app.api_key, None).await;
        let changed: Vec<&Value> = events.body["events"]
            .as_array()
            .expect("events")
            .iter()
            .filter(|e| e["type"] == "status_changed")
            .collect();
        assert_eq!(changed.len(), 1);
        assert_eq!(changed[0]["data"]["tokens_revoked"], tokens.len(), "the event counts every revoked token");
    }
}

async fn readiness_fails_while_the_keyring_cannot_be_read(db: TestDb) {
    let app = TestApp::spawn(db).await;
    assert_eq!(app.call("GET", "/readyz", "", None).await.status, StatusCode::OK);
    // A key sealed under another key-encryption key becomes the active one: this server can
    // no longer read its keyring, and must say so rather than keep signing with a retired key.
    let foreign = new_key_record(Algorithm::EdDsa, &Kek::generate(), KeyState::Active, 1);
    app.store.rotate_signing_key(&foreign, 1).await.expect("rotate");
    assert!(app.app_state.keyring.refresh().await.is_err());
    let r = app.call("GET", "/readyz", "", None).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.body);
    assert!(r.body["detail"].is_string());
    // Mended (here: the foreign key retired by a rotation under the right KEK), ready again.
    let own = new_key_record(Algorithm::EdDsa, &app.kek, KeyState::Active, 2);
    app.store.rotate_signing_key(&own, 2).await.expect("rotate");
    assert_eq!(app.call("GET", "/readyz", "", None).await.status, StatusCode::OK);
}

crate::both_backends!(
    hostile_ids_from_one_client_never_fail_anothers_tokens,
    idempotent_replays_recheck_what_the_first_answer_depended_on,
    an_idempotent_retry_never_replays_an_expired_token,
    disconnecting_while_tokens_are_minted_revokes_exactly_those_tokens,
    readiness_fails_while_the_keyring_cannot_be_read,
);
