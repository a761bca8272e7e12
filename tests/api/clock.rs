//! A clock that is wrong: stepped back or forward against the database's idea of the time
//! (PostgreSQL's clock; on SQLite, the newest recorded time and the clock's own steps). While it
//! is wrong no token is signed (`503` naming the clock), readiness fails, the metrics say so,
//! and the keyring neither activates a key nor schedules a rotation; once it is right again,
//! all of it comes back by itself.
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;
use tessera::config::ServeConfig;
use tessera::token::clock::{Clock, SystemClock};
use tessera::token::keyring::{Algorithm, Keyring};

use crate::api::helpers::TestApp;
use crate::support::TestDb;

/// The system's clock, stepped by a settable amount: what an operator's wrong clock is.
#[derive(Default)]
struct SteppedClock(AtomicI64);

impl SteppedClock {
    fn step_to(&self, secs: i64) {
        self.0.store(secs, Ordering::SeqCst);
    }
}

impl Clock for SteppedClock {
    fn now(&self) -> i64 {
        self.now_ms().div_euclid(1000)
    }

    fn now_ms(&self) -> i64 {
        SystemClock.now_ms() + self.0.load(Ordering::SeqCst) * 1000
    }

    /// The boot-time clock, which no step moves.
    fn steady_ms(&self) -> Option<i64> {
        SystemClock.steady_ms()
    }
}

async fn spawn(db: TestDb) -> (TestApp, Arc<SteppedClock>) {
    let clock = Arc::new(SteppedClock::default());
    let mut config = ServeConfig::for_tests();
    config.tokens.clock_max_skew = 5;
    (TestApp::spawn_with(db, config, clock.clone()).await, clock)
}

/// Waits (the guard measures every second) until readiness answers `want`.
async fn ready_becomes(app: &TestApp, want: StatusCode) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = app.call("GET", "/readyz", "", None).await;
        if r.status == want {
            return r.body;
        }
        assert!(Instant::now() < deadline, "readiness stayed {} {}", r.status, r.body);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn metric(app_metrics: &str, name: &str) -> f64 {
    app_metrics
        .lines()
        .find_map(|l| l.strip_prefix(name).and_then(|v| v.strip_prefix(' ')))
        .unwrap_or_else(|| panic!("no {name} in the metrics"))
        .parse()
        .expect("a number")
}

async fn metrics(app: &TestApp) -> String {
    app.raw("GET", "/metrics", &[], vec![]).await.body["_raw"].as_str().expect("text").to_owned()
}

async fn a_clock_stepped_back_signs_nothing_until_it_is_right(db: TestDb) {
    let (app, clock) = spawn(db).await;
    let conn = app.create_connection(&app.api_key, "c").await;
    assert_eq!(app.mint(&app.api_key, &conn).await.status, StatusCode::CREATED);
    assert_eq!(metric(&metrics(&app).await, "tessera_clock_trusted"), 1.0);

    // An hour back: every token would already be 45 minutes past its expiry for a verifier.
    clock.step_to(-3600);
    let body = ready_becomes(&app, StatusCode::SERVICE_UNAVAILABLE).await;
    assert!(body["detail"].as_str().expect("detail").contains("clock"), "{body}");
    let r = app.mint(&app.api_key, &conn).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.body);
    let detail = r.body["detail"].as_str().expect("detail");
    assert!(detail.contains("clock") && (detail.contains("behind") || detail.contains("back")), "{detail}");
    let text = metrics(&app).await;
    assert_eq!(metric(&text, "tessera_clock_trusted"), 0.0);
    assert!(metric(&text, "tessera_clock_skew_seconds") < -3000.0, "{text}");

    // Put right: tokens again, without a restart.
    clock.step_to(0);
    ready_becomes(&app, StatusCode::OK).await;
    assert_eq!(app.mint(&app.api_key, &conn).await.status, StatusCode::CREATED);
    assert!(metric(&metrics(&app).await, "tessera_clock_skew_seconds").abs() < 5.0);
}

async fn a_clock_stepped_forward_signs_nothing_and_moves_no_key(db: TestDb) {
    let (app, clock) = spawn(db).await;
    let conn = app.create_connection(&app.api_key, "c").await;
    assert_eq!(app.mint(&app.api_key, &conn).await.status, StatusCode::CREATED);
    let keys_before = app.store.signing_keys().await.expect("keys").len();

    // A month ahead: the active key is past its rotation period, and a key scheduled to sign
    // in ten minutes would be due.
    clock.step_to(31 * 86_400);
    let body = ready_becomes(&app, StatusCode::SERVICE_UNAVAILABLE).await;
    assert!(
        body["detail"].as_str().expect("detail").contains("ahead") || body.to_string().contains("forward"),
        "{body}"
    );
    let r = app.mint(&app.api_key, &conn).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.body);
    let refreshed = app.app_state.keyring.refresh().await;
    assert!(refreshed.is_ok(), "{refreshed:?}");
    assert_eq!(app.store.signing_keys().await.expect("keys").len(), keys_before, "no rotation was scheduled");

    let (kid, _) = Keyring::schedule(app.store.as_ref(), &app.kek, Algorithm::EdDsa, SystemClock.now(), 600)
        .await
        .expect("schedule")
        .expect("none pending");
    app.app_state.keyring.refresh().await.expect("refresh");
    let state = |keys: &[tessera::domain::signing_key::SigningKeyRecord]| {
        keys.iter().find(|k| k.kid == kid).map(|k| k.state.to_string()).expect("the scheduled key")
    };
    assert_eq!(state(&app.store.signing_keys().await.expect("keys")), "next", "not activated from a wrong time");

    // Back to the right time: tokens again, and the key still waits for its own time.
    clock.step_to(0);
    ready_becomes(&app, StatusCode::OK).await;
    let r = app.mint(&app.api_key, &conn).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    app.app_state.keyring.refresh().await.expect("refresh");
    assert_eq!(state(&app.store.signing_keys().await.expect("keys")), "next");
}

crate::both_backends!(
    a_clock_stepped_back_signs_nothing_until_it_is_right,
    a_clock_stepped_forward_signs_nothing_and_moves_no_key,
);
