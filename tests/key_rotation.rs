//! A whole signing-key rotation under a fake clock: a verifier that caches the JWKS for the
//! served max-age never meets an unknown `kid`, every unexpired token keeps verifying, and
//! retired keys leave the JWKS once their tokens have expired.
use std::collections::HashSet;
use std::sync::Arc;

use crate::support::TestDb;
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
        Keyring::open(store, Kek::generate(), Algorithm::EdDsa, clock.clone(), policy, None).await.expect("keyring");

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
    // The first key signs from the start, and each of the four periods ends with the next key
    // taking over on the dot (it was scheduled `prepublish_secs` ahead): the last iteration
    // runs at exactly start + 4 periods, so the fifth key has signed once.
    assert_eq!(kids.len(), 5, "the keyring rotated by itself once per period: {kids:?}");
    assert_eq!(ever_published, kids, "every key that signed was published, and no other");
    // At the end the fifth key signs, the fourth (retired this instant) stays published for
    // TTL + 5 min, and the third (retired a period ago, more than TTL + 5 min) has gone; the
    // sixth is not due for scheduling until prepublish_secs before the next period ends.
    let published: HashSet<String> = jwks_now().keys.into_iter().map(|k| k.kid).collect();
    assert_eq!(published.len(), 2, "retired keys leave the JWKS: {published:?}");
    assert!(published.contains(keyring.signer().kid().as_str()));
}

/// Start-up refuses a pre-publication shorter than the JWKS cache lifetime plus the keyring
/// refresh interval (a verifier could otherwise meet a `kid` it does not know), and accepts
/// exactly that minimum.
#[tokio::test]
async fn start_up_refuses_a_prepublication_shorter_than_max_age_plus_refresh() {
    use tessera::app::App;
    use tessera::config::ServeConfig;
    use tessera::token::clock::SystemClock;

    for (refresh, prepublish, accepted) in [(10, 309, false), (10, 310, true), (60, 359, false), (60, 360, true)] {
        let db = TestDb::new(crate::support::Backend::Sqlite).await.expect("sqlite");
        let store = tessera::storage::connect(&db.url).await.expect("store");
        let mut config = ServeConfig::for_tests();
        config.tokens.key_refresh = refresh;
        config.tokens.key_prepublish = prepublish;
        let built = App::build(&config, store.clone(), Kek::generate(), Arc::new(SystemClock)).await;
        match built {
            Ok(_) => assert!(accepted, "--key-prepublish {prepublish} with --key-refresh {refresh} was accepted"),
            Err(e) => {
                assert!(!accepted, "--key-prepublish {prepublish} with --key-refresh {refresh} was refused: {e:#}");
                let min = JWKS_MAX_AGE_SECS + refresh;
                assert!(e.to_string().contains(&format!("--key-prepublish must be at least {min} seconds")), "{e:#}");
                assert!(store.signing_keys().await.expect("keys").is_empty(), "a refused start creates no key");
                assert!(store.list_clients().await.expect("clients").is_empty(), "nor a client");
            }
        }
    }
}

both_backends!(a_caching_verifier_never_meets_an_unknown_kid);
