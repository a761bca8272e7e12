//! `GET /.well-known/jwks.json` and signing-key rotation as resource servers see it.
use reqwest::StatusCode;
use tessera::token::clock::{Clock as _, SystemClock};
use tessera::token::keyring::{Algorithm, Keyring};

use crate::helpers::TestApp;
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
    crate::tokens::verify(&app, &old).await;
    crate::tokens::verify(&app, &new).await;
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
