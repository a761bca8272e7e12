//! `/metrics` on the main listener: open by default, behind a bearer token when one is set.
use std::sync::Arc;

use reqwest::StatusCode;
use serde_json::json;
use tessera::auth::metrics_token::MetricsToken;
use tessera::config::ServeConfig;
use tessera::token::clock::SystemClock;

use crate::api::helpers::TestApp;
use crate::support::TestDb;

const TOKEN: &str = "metrics-token-0123456789abcdef";

async fn metrics_need_no_credential_without_a_token(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let r = app.raw("GET", "/metrics", &[], vec![]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body["_raw"].as_str().expect("text").contains("tessera_http_requests_total"));
}

async fn metrics_token_is_required_when_set(db: TestDb) {
    let mut config = ServeConfig::for_tests();
    config.metrics.metrics_token = Some(MetricsToken::new(TOKEN).expect("token"));
    let app = TestApp::spawn_with(db, config, Arc::new(SystemClock)).await;
    let missing = json!({"detail": "Not authenticated: send the metrics token as Authorization: Bearer <token>"});
    let invalid = json!({"detail": "Invalid metrics token"});
    let cases: Vec<(&str, String, &serde_json::Value)> = vec![
        ("authorization", "Bearer ".into(), &missing),
        ("authorization", format!("Basic {TOKEN}"), &missing),
        ("authorization", format!("Bearer:{TOKEN}"), &missing),
        ("x-api-key", TOKEN.into(), &missing),
        ("x-api-key", app.api_key.clone(), &missing),
        ("authorization", "Bearer wrong".into(), &invalid),
        ("authorization", format!("Bearer {}X", &TOKEN[..TOKEN.len() - 1]), &invalid),
        ("authorization", format!("Bearer {TOKEN}x"), &invalid),
        ("authorization", format!("Bearer {}", app.api_key), &invalid),
    ];
    let r = app.raw("GET", "/metrics", &[], vec![]).await;
    assert_eq!((r.status, &r.body), (StatusCode::UNAUTHORIZED, &missing), "no credential");
    assert_eq!(r.headers["www-authenticate"], "Bearer");
    for (name, value, detail) in cases {
        let r = app.raw("GET", "/metrics", &[(name, &value)], vec![]).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{name}: {value}");
        assert_eq!(&r.body, detail, "{name}: {value}");
        assert_eq!(r.headers["www-authenticate"], "Bearer", "{name}: {value}");
    }
    for auth in [format!("Bearer {TOKEN}"), format!("bearer   {TOKEN} ")] {
        let r = app.raw("GET", "/metrics", &[("authorization", &auth)], vec![]).await;
        assert_eq!(r.status, StatusCode::OK, "{auth:?}");
        let text = r.body["_raw"].as_str().expect("text");
        assert!(text.contains(r#"route="/metrics",status="401"} 10"#), "refusals are counted: {text}");
    }
    // Everything else is as it was.
    assert_eq!(app.raw("GET", "/healthz", &[], vec![]).await.status, StatusCode::OK);
}

crate::both_backends!(metrics_need_no_credential_without_a_token, metrics_token_is_required_when_set);
