//! `GET /.well-known/jwks.json` and signing-key rotation as resource servers see it.
use reqwest::StatusCode;
use tessera::token::clock::{Clock as _, SystemClock};
use tessera::token::keyring::{Algorithm, Keyring};

use crate::api::helpers::TestApp;
use crate::support::TestDb;

async fn jwks_publishes_rfc7517_keys_with_a_cache_lifetime(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let r = app.raw("GET", "/.well-known/jwks.json", &[], vec![]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.headers["cache-control"], "public, max-age=300");
    let keys = r.body["keys"].as_array().expect("keys");
    assert_eq!(keys.len(), 1);
    for field in ["kid", "kty", "alg", "use", "crv", "x"] {
        assert!(keys[0][field].is_string(), "{field}");
    }
    assert_eq!(keys[0]["kty"], "OKP");
    assert_eq!(keys[0]["alg"], "EdDSA");
    assert_eq!(keys[0]["use"], "sig");
    assert!(keys[0].get("d").is_none(), "never the private half");
}

async fn a_token_minted_before_rotation_still_verifies_after_it(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let conn = app.create_connection(&app.api_key, "c").await;
    let old = app.mint(&app.api_key, &conn).await.body["connection_token"].as_str().expect("token").to_owned();
    let old_kid = jsonwebtoken::decode_header(&old).expect("header").kid;

    // Rotation through the store with the server's own KEK is what `tessera signing-key rotate`
    // does; the server picks it up on its next refresh.
    let state = &app.app_state;
    let kek_probe = state.keyring.clone();
    rotate_with_servers_kek(&app).await;
    kek_probe.refresh().await.expect("refresh");

    let new = app.mint(&app.api_key, &conn).await.body["connection_token"].as_str().expect("token").to_owned();
    let new_kid = jsonwebtoken::decode_header(&new).expect("header").kid;
    assert_ne!(old_kid, new_kid, "the new key signs");
    crate::api::tokens::verify(&app, &old).await;
    crate::api::tokens::verify(&app, &new).await;
    let r = app.raw("GET", "/.well-known/jwks.json", &[], vec![]).await;
    assert_eq!(r.body["keys"].as_array().expect("keys").len(), 2, "the retired key stays published");
}

async fn rotate_with_servers_kek(app: &TestApp) {
    Keyring::rotate_now(app.store.as_ref(), &app.kek, Algorithm::EdDsa, SystemClock.now()).await.expect("rotated");
}

crate::both_backends!(
    jwks_publishes_rfc7517_keys_with_a_cache_lifetime,
    a_token_minted_before_rotation_still_verifies_after_it
);

/// A JWKS endpoint of the test's own that answers every fetch with `cache_control` (or no
/// such header), counting the fetches. Returns its URL.
async fn jwks_server(
    jwks: serde_json::Value,
    cache_control: Option<&'static str>,
    fetches: std::sync::Arc<std::sync::atomic::AtomicUsize>,
) -> String {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/.well-known/jwks.json", listener.local_addr().expect("addr"));
    let body = jwks.to_string();
    tokio::spawn(async move {
        loop {
            let (mut s, _) = listener.accept().await.expect("accept");
            fetches.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let mut head = Vec::new();
            let mut buf = [0u8; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = s.read(&mut buf).await.expect("read");
                assert!(n > 0, "the request head");
                head.extend_from_slice(&buf[..n]);
            }
            let header = cache_control.map(|v| format!("Cache-Control: {v}\r\n")).unwrap_or_default();
            let answer = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n{header}Content-Length: {}\r\n\
                 Connection: close\r\n\r\n{body}",
                body.len()
            );
            s.write_all(answer.as_bytes()).await.expect("write");
        }
    });
    url
}

/// The HTTP fetcher reads the cache lifetime from `Cache-Control: max-age`, whatever else the
/// header holds, and falls back to the JWKS's own 300 s when there is none it can read.
#[tokio::test]
async fn the_jwks_fetcher_takes_its_cache_lifetime_from_max_age() {
    use std::time::Duration;
    use tessera::token::verifier::{HttpJwks, JwksSource as _};
    let fetches = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let jwks =
        serde_json::json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "x": "AAAA", "kid": "k1", "alg": "EdDSA"}]});
    for (header, secs) in [
        (Some("public, max-age=300"), 300),
        (Some("max-age=60"), 60),
        (Some("no-cache, max-age=0"), 0),
        (Some("  public ,   max-age=45  "), 45),
        (Some("s-maxage=10, max-age=20"), 20),
        (Some("public, max-age=86400, immutable"), 86_400),
        (Some("no-store"), 300),
        (Some("max-age=soon"), 300),
        (Some("max-age=-5"), 300),
        (None, 300),
    ] {
        let url = jwks_server(jwks.clone(), header, fetches.clone()).await;
        let (keys, lifetime) = HttpJwks::new(&url).expect("url").fetch().await.expect("fetched");
        assert_eq!(lifetime, Duration::from_secs(secs), "Cache-Control: {header:?}");
        assert_eq!(keys.keys.len(), 1);
        assert_eq!(keys.keys[0].kid, "k1");
    }
}

/// A verifier caches what it fetched for that lifetime: with `max-age=3600` two verifications
/// fetch once, with `max-age=0` each one fetches.
#[tokio::test]
async fn a_verifier_caches_the_jwks_for_the_served_max_age() {
    use base64::Engine as _;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tessera::crypto::kek::Kek;
    use tessera::token::claims::Claims;
    use tessera::token::keyring::{KeyState, Signer, new_key_record};
    use tessera::token::verifier::{HttpJwks, Verifier};

    let kek = Kek::generate();
    let rec = new_key_record(Algorithm::EdDsa, &kek, KeyState::Active, 0);
    let signer = Signer::from_record(&rec, &kek).expect("signer");
    let x = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rec.public_key.as_ref().expect("public"));
    let jwks = serde_json::json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "x": x, "kid": rec.kid.as_str(), "alg": "EdDSA"}]});
    let now = SystemClock.now();
    let token = signer.sign(&Claims {
        iss: "tessera".into(),
        aud: "subtotal".into(),
        sub: "conn".into(),
        client_id: "client".into(),
        customer_id: "cust".into(),
        scope: "access".into(),
        iat: now,
        nbf: now,
        exp: now + 600,
        jti: "j".into(),
    });
    for (header, expected_fetches) in [("public, max-age=3600", 1), ("max-age=0", 2)] {
        let fetches = Arc::new(AtomicUsize::new(0));
        let url = jwks_server(jwks.clone(), Some(header), fetches.clone()).await;
        let verifier = Verifier::new(HttpJwks::new(&url).expect("url"), Default::default());
        for _ in 0..2 {
            assert_eq!(verifier.verify(&token).await.expect("verifies").sub, "conn");
        }
        assert_eq!(fetches.load(Ordering::SeqCst), expected_fetches, "Cache-Control: {header}");
    }
}
