//! Liveness and readiness.
use reqwest::StatusCode;
use serde_json::json;

use crate::api::helpers::TestApp;
use crate::support::TestDb;

async fn healthz_and_readyz_answer(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let r = app.raw("GET", "/healthz", &[], vec![]).await;
    assert_eq!((r.status, r.body), (StatusCode::OK, json!({"status": "ok"})));
    let r = app.raw("GET", "/readyz", &[], vec![]).await;
    assert_eq!((r.status, r.body), (StatusCode::OK, json!({"status": "ready"})));
}

crate::both_backends!(healthz_and_readyz_answer);
