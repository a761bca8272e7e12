//! A whole signing-key rotation under a fake clock: a verifier that caches the JWKS for the
//! served max-age never meets an unknown `kid`, every unexpired token keeps verifying, and
//! retired keys leave the JWKS once their tokens have expired.
#[path = "support/mod.rs"]
mod support;

use std::collections::HashSet;
use std::sync::Arc;

use support::TestDb;
use tessera::crypto::kek::Kek;
use tessera::token::claims::Claims;
use tessera::token::clock::{Clock as _, ManualClock};
use tessera::token::keyring::JWKS_MAX_AGE_SECS;
use tessera::token::keyring::{Algorithm, KeyPolicy, Keyring};
use tessera::token::verify::{Jwks, verify};

const TTL: i64 = 900;
const REFRESH: i64 = 10;

fn claims(now: i64, n: usize) -> Claims {
    Claims {
        iss: "tessera".into(),
        aud: "subtotal".into(),
        sub: "conn".into(),
        client_id: "client".into(),
        customer_id: "cust".into(),
        scope: "access".into(),
        iat: now,
        nbf: now,
        exp: now + TTL,
        jti: format!("t{n}"),
    }
}

async fn a_caching_verifier_never_meets_an_unknown_kid(db: TestDb) {
    let store = tessera::storage::connect(&db.url).await.expect("store");
    let clock = Arc::new(ManualClock::new(1_800_000_000));
    let policy = KeyPolicy {
        prepublish_secs: i64::from(JWKS_MAX_AGE_SECS) + REFRESH,
        rotation_period_secs: 3_600,
        retired_publish_secs: TTL + 300,
    };
    let keyring =
        Keyring::open(store, Kek::generate(), Algorithm::EdDsa, clock.clone(), policy).await.expect("keyring");

    let jwks_now = || serde_json::from_value::<Jwks>(keyring.jwks().as_ref().clone()).expect("jwks");
    // Verifiers in every phase: each refetches the JWKS when its copy is max-age old, the
    // first at a different moment, so one of them holds the oldest copy allowed at any time.
    let max_age = i64::from(JWKS_MAX_AGE_SECS);
    let mut verifiers: Vec<(Jwks, i64)> =
        (0..max_age / REFRESH).map(|i| (jwks_now(), clock.now() - i * REFRESH)).collect();
    let mut issued: Vec<(String, i64)> = Vec::new();
    let mut kids = HashSet::new();
    let mut ever_published = HashSet::new();
    let start = clock.now();
    let mut n = 0;
    // Four rotation periods, in steps of the refresh interval.
    while clock.now() < start + 4 * 3_600 {
        clock.advance(REFRESH);
        keyring.refresh().await.expect("refresh");
        let now = clock.now();
        let published = jwks_now();
        ever_published.extend(published.keys.iter().map(|k| k.kid.clone()));
        n += 1;
        let signer = keyring.signer();
        kids.insert(signer.kid().to_string());
        let token = signer.sign(&claims(now, n));
        for (cached, fetched_at) in &mut verifiers {
            if now - *fetched_at >= max_age {
                *cached = published.clone();
                *fetched_at = now;
            }
            // A verifier with a JWKS up to max-age old knows the key that signs now.
            verify(&token, cached, &Default::default(), now)
                .unwrap_or_else(|e| panic!("at +{}s a cached JWKS refused a new token: {e}", now - start));
        }
        issued.push((token, now + TTL));
        // Every token not yet expired verifies against what is published now: checked with
        // the oldest unexpired token of each key.
        issued.retain(|(_, exp)| *exp > now);
        let mut seen = HashSet::new();
        for (t, _) in &issued {
            let kid = jsonwebtoken::decode_header(t).expect("header").kid.expect("kid");
            if seen.insert(kid) {
                verify(t, &published, &Default::default(), now)
                    .unwrap_or_else(|e| panic!("at +{}s an unexpired token was refused: {e}", now - start));
            }
        }
    }
    assert!(kids.len() >= 4, "the keyring rotated by itself: {} keys signed", kids.len());
    let published: HashSet<String> = jwks_now().keys.into_iter().map(|k| k.kid).collect();
    assert!(published.len() <= 3, "retired keys leave the JWKS: {published:?}");
    assert!(ever_published.len() > published.len());
}

both_backends!(a_caching_verifier_never_meets_an_unknown_kid);
