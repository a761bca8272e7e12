//! Several trusted issuers at once: opaque tokens go to one issuer only, an issuer that is
//! down or misconfigured fails its own tokens only and is asked at most once per backoff
//! period, and the refusals and key names that hold whichever issuer a token comes from.
//!
//! Each issuer is the HTTP server `partners.rs` starts (metadata, JWKS, introspection), started
//! once per issuer; its request log shows what tessera asked it.
use std::sync::Arc;
use std::sync::atomic::Ordering;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tessera::config::ServeConfig;
use tessera::token::clock::SystemClock;

use super::partners::{ALL, AUDIENCE, Issuer, Key, PARTNER, allow, bearer, spawn};
use crate::api::helpers::TestApp;
use crate::support::TestDb;

/// tessera trusting `issuers`, introspecting at each with the given opaque-token prefix, with
/// a 60 s backoff after a failed fetch.
async fn spawn_trusting(db: TestDb, issuers: &[(&Issuer, &str)]) -> TestApp {
    let mut config = ServeConfig::for_tests();
    config.oauth.oauth_issuers = issuers.iter().map(|(i, _)| i.url.clone()).collect();
    config.oauth.oauth_opaque_token_prefixes = issuers.iter().map(|(i, p)| (i.url.clone(), p.to_string())).collect();
    config.oauth.oauth_audience = Some(AUDIENCE.into());
    config.oauth.oauth_jwks_min_refetch = 60;
    config.oauth.oauth_introspection_client_id = Some("tessera".into());
    config.oauth.oauth_introspection_client_secret =
        Some(tessera::token::partners::ClientSecret::from_arg("rs-secret").expect("secret"));
    TestApp::spawn_with(db, config, Arc::new(SystemClock)).await
}

fn now() -> i64 {
    tessera::token::clock::Clock::now(&SystemClock)
}

/// What `issuer` answers at introspection for an active token of `client`.
fn active(issuer: &Issuer, client: &str) -> Value {
    json!({"active": true, "iss": issuer.url, "aud": AUDIENCE, "client_id": PARTNER,
           "subtotal_client_id": client, "scope": ALL, "exp": now() + 3600})
}

fn log(issuer: &Issuer) -> Vec<String> {
    issuer.log.lock().expect("lock").clone()
}

async fn an_opaque_token_reaches_only_the_issuer_its_prefix_names(db: TestDb) {
    let a = Issuer::start(300).await;
    let b = Issuer::start(300).await;
    let app = spawn_trusting(db, &[(&a, "a_at_"), (&b, "b_at_")]).await;
    allow(&app, &a, &app.client_id).await;
    let conn = app.create_connection(&app.api_key, "c").await;
    let path = format!("/connections/{conn}");
    let client = app.client_id.as_str().to_owned();
    a.opaque.lock().expect("lock").insert("a_at_live".into(), active(&a, &client));

    // A's live token works, and only A was asked: B received no request at all.
    let r = bearer(&app, "GET", &path, "a_at_live", None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(log(&a).contains(&"POST /introspect token=a_at_live".to_owned()), "{:?}", log(&a));
    assert_eq!(log(&b), Vec::<String>::new(), "B saw A's token");

    // A token of neither prefix is no partner token: 401 without asking anyone.
    let (before_a, before_b) = (log(&a).len(), log(&b).len());
    for junk in ["junk", "a_at", "x_a_at_live", "eyJhbGciOiJub25lIn0"] {
        let r = bearer(&app, "GET", &path, junk, None).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{junk}: {}", r.body);
    }
    assert_eq!((log(&a).len(), log(&b).len()), (before_a, before_b), "junk was sent to an issuer");

    // A JWT is routed by its `iss`: an untrusted issuer's token is 401 and that issuer is never
    // asked anything.
    let stranger = Issuer::start(300).await;
    let r = bearer(&app, "GET", &path, &stranger.token(&client, ALL), None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
    assert_eq!(log(&stranger), Vec::<String>::new(), "an untrusted issuer was asked");
    assert_eq!((log(&a).len(), log(&b).len()), (before_a, before_b), "a trusted issuer was asked");

    // B's prefix goes to B only: unknown there, 401; A is not asked.
    let r = bearer(&app, "GET", &path, "b_at_unknown", None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
    assert!(log(&b).contains(&"POST /introspect token=b_at_unknown".to_owned()), "{:?}", log(&b));
    assert!(!log(&b).iter().any(|l| l.contains("a_at_")), "{:?}", log(&b));
    assert!(!log(&a).iter().any(|l| l.contains("b_at_")), "{:?}", log(&a));
}

async fn a_down_or_misconfigured_issuer_fails_only_its_own_tokens_and_is_asked_once_per_backoff(db: TestDb) {
    let a = Issuer::start(300).await;
    let misconfigured = Issuer::start(300).await;
    misconfigured.mismatch.store(true, Ordering::SeqCst);
    let down = Issuer::start(300).await;
    down.down.store(true, Ordering::SeqCst);
    let app = spawn_trusting(db, &[(&a, "a_at_"), (&misconfigured, "m_at_"), (&down, "d_at_")]).await;
    allow(&app, &a, &app.client_id).await;
    let conn = app.create_connection(&app.api_key, "c").await;
    let path = format!("/connections/{conn}");
    let client = app.client_id.as_str().to_owned();
    a.opaque.lock().expect("lock").insert("a_at_live".into(), active(&a, &client));

    for round in 0..10 {
        // A's tokens, JWT and opaque, work throughout.
        let r = bearer(&app, "GET", &path, &a.token(&client, ALL), None).await;
        assert_eq!(r.status, StatusCode::OK, "round {round}: {}", r.body);
        let r = bearer(&app, "GET", &path, "a_at_live", None).await;
        assert_eq!(r.status, StatusCode::OK, "round {round}: {}", r.body);
        // Junk bearers are 401, never 503.
        for junk in [format!("junk-{round}"), "not.a.jwt".to_owned(), format!("{}x", a.token(&client, ALL))] {
            let r = bearer(&app, "GET", &path, &junk, None).await;
            assert_eq!(r.status, StatusCode::UNAUTHORIZED, "round {round}, {junk}: {}", r.body);
        }
        // The broken issuers' own tokens are 503: theirs only.
        for broken in [&misconfigured, &down] {
            let r = bearer(&app, "GET", &path, &broken.token(&client, ALL), None).await;
            assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "round {round}: {}", r.body);
            assert!(r.body["detail"].as_str().expect("detail").contains("authorization server"), "{}", r.body);
        }
        for opaque in ["m_at_x", "d_at_x"] {
            let r = bearer(&app, "GET", &path, opaque, None).await;
            assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "round {round}, {opaque}: {}", r.body);
        }
        // API keys are untouched.
        assert_eq!(app.call("GET", &path, &app.api_key, None).await.status, StatusCode::OK);
    }
    // Forty requests for each broken issuer, one discovery each (RFC 8414's document, then
    // OpenID Connect's), then nothing within the backoff.
    for broken in [&misconfigured, &down] {
        let asked = log(broken);
        let rfc8414 = asked.iter().filter(|l| l.starts_with("GET /.well-known/oauth-authorization-server")).count();
        assert_eq!(rfc8414, 1, "{asked:?}");
        assert!(asked.len() <= 2 && asked.iter().all(|l| l.starts_with("GET /.well-known/")), "{asked:?}");
    }
}

async fn a_partner_token_gets_one_answer_on_every_key_only_route(db: TestDb) {
    let issuer = Issuer::start(300).await;
    let app = spawn(db, &issuer).await;
    allow(&app, &issuer, &app.client_id).await;
    let token = issuer.token(app.client_id.as_str(), ALL);
    let mut answers = Vec::new();
    for (method, path, body) in [
        ("POST", "/tokens/introspect", Some(json!({"token": "x"}))),
        ("POST", "/tokens/revoke", Some(json!({"token": "x"}))),
        ("GET", "/redirect-urls", None),
    ] {
        let r = bearer(&app, method, path, &token, body).await;
        answers.push((r.status, r.body["detail"].clone()));
    }
    let expected = (StatusCode::FORBIDDEN, json!("This route takes an API key, not a partner access token"));
    assert_eq!(answers, vec![expected.clone(), expected.clone(), expected]);

    // Introspection without working client credentials is challenged with Basic, OAuth's
    // client authentication; a bad bearer token with Bearer, the scheme it was sent with.
    let challenge = |r: &crate::api::helpers::Response| {
        r.headers.get("www-authenticate").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
    };
    let json_header = [("content-type", "application/json")];
    for body in [json!({"token": "x"}), json!({"token": "x", "client_id": app.client_id.as_str()})] {
        let r = app.raw("POST", "/tokens/introspect", &json_header, body.to_string().into_bytes()).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{body}");
        assert!(challenge(&r).starts_with("Basic"), "{body}: {}", challenge(&r));
    }
    let r = app
        .raw(
            "POST",
            "/tokens/introspect",
            &[("x-api-key", "tsk_nope"), ("content-type", "application/json")],
            json!({"token": "x"}).to_string().into_bytes(),
        )
        .await;
    assert!(challenge(&r).starts_with("Basic"), "X-Api-Key: {}", challenge(&r));
    let r = bearer(&app, "POST", "/tokens/introspect", "tsk_nope", Some(json!({"token": "x"}))).await;
    assert_eq!(challenge(&r), "Bearer");
}

async fn keys_named_ed25519_are_accepted(db: TestDb) {
    let issuer = Issuer::start(300).await;
    // RFC 9864's fully-specified name, in the JWK, before tessera first fetches the JWKS.
    let mut key = Key::new("k-ed25519");
    key.alg = Some("Ed25519");
    *issuer.published.lock().expect("lock") = vec![key.clone()];
    let app = spawn(db, &issuer).await;
    allow(&app, &issuer, &app.client_id).await;
    let client = app.client_id.as_str().to_owned();
    for alg in ["Ed25519", "EdDSA"] {
        let token = issuer.token_headed(&key, alg, "at+jwt", &client, ALL, |_| {});
        let r = bearer(&app, "GET", "/account", &token, None).await;
        assert_eq!(r.status, StatusCode::OK, "header alg {alg}: {}", r.body);
    }
    // The key still pins its algorithm.
    let token = issuer.token_headed(&key, "ES256", "at+jwt", &client, ALL, |_| {});
    assert_eq!(bearer(&app, "GET", "/account", &token, None).await.status, StatusCode::UNAUTHORIZED);
}

async fn typ_at_jwt_is_required_only_when_asked(db: TestDb) {
    let issuer = Issuer::start(300).await;
    // Off by default: Keycloak's `typ: JWT` is accepted.
    let lenient = spawn(db, &issuer).await;
    allow(&lenient, &issuer, &lenient.client_id).await;
    let key = issuer.key();
    let client = lenient.client_id.as_str().to_owned();
    let typed = |typ: &str, client: &str| issuer.token_headed(&key, "EdDSA", typ, client, ALL, |_| {});
    for typ in ["JWT", "at+jwt"] {
        let r = bearer(&lenient, "GET", "/account", &typed(typ, &client), None).await;
        assert_eq!(r.status, StatusCode::OK, "{typ}: {}", r.body);
    }

    let strict_db = TestDb::new(crate::support::Backend::Sqlite).await.expect("sqlite");
    let mut config = ServeConfig::for_tests();
    config.oauth.oauth_issuers = vec![issuer.url.clone()];
    config.oauth.oauth_audience = Some(AUDIENCE.into());
    config.oauth.oauth_require_at_jwt = true;
    let strict = TestApp::spawn_with(strict_db, config, Arc::new(SystemClock)).await;
    allow(&strict, &issuer, &strict.client_id).await;
    let client = strict.client_id.as_str().to_owned();
    for (typ, status) in [
        ("at+jwt", StatusCode::OK),
        ("AT+JWT", StatusCode::OK),
        ("application/at+jwt", StatusCode::OK),
        ("JWT", StatusCode::UNAUTHORIZED),
        ("", StatusCode::UNAUTHORIZED),
    ] {
        let r = bearer(&strict, "GET", "/account", &typed(typ, &client), None).await;
        assert_eq!(r.status, status, "typ {typ:?}: {}", r.body);
    }
}

crate::both_backends!(
    an_opaque_token_reaches_only_the_issuer_its_prefix_names,
    a_down_or_misconfigured_issuer_fails_only_its_own_tokens_and_is_asked_once_per_backoff,
    a_partner_token_gets_one_answer_on_every_key_only_route,
    keys_named_ed25519_are_accepted,
    typ_at_jwt_is_required_only_when_asked,
);
