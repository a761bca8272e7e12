//! `/webhooks`: a client's endpoints, their secrets and delivery logs, and the outbox written
//! with each change. (Deliveries to real receiver processes are in tests/webhooks.rs.)
use std::sync::Arc;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tessera::config::ServeConfig;
use tessera::token::clock::SystemClock;

use crate::api::helpers::TestApp;
use crate::support::TestDb;

const ALL_TYPES: [&str; 5] = [
    "connection.created",
    "connection.activated",
    "connection.unauthenticated",
    "connection.disconnected",
    "connection.deleted",
];

/// A server that may send to local addresses over plain http, as a closed network would allow.
async fn spawn(db: TestDb) -> TestApp {
    let mut config = ServeConfig::for_tests();
    config.webhooks.webhook_allow_private = true;
    config.webhooks.webhook_allow_http = true;
    TestApp::spawn_with(db, config, Arc::new(SystemClock)).await
}

/// A local address where nothing listens.
fn nowhere() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    format!("http://{}/hook", l.local_addr().expect("addr"))
}

async fn create(app: &TestApp, key: &str, body: Value) -> crate::api::helpers::Response {
    app.call("POST", "/webhooks", key, Some(body)).await
}

async fn webhooks_are_kept_per_client_and_their_secret_is_shown_once(db: TestDb) {
    let app = spawn(db).await;
    let (_, other) = app.new_client("other").await;
    let r = create(&app, &app.api_key, json!({"name": "ops", "url": nowhere(), "event_types": ALL_TYPES})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let id = r.body["webhook_id"].as_str().expect("id").to_owned();
    let secret = r.body["signing_secret"].as_str().expect("secret").to_owned();
    assert!(secret.starts_with("whsec_") && secret.len() > 40);
    assert_eq!(r.body["is_active"], false, "inactive unless asked, as Subtotal's default");
    assert_eq!(r.body["event_types"], json!(ALL_TYPES));

    let got = app.call("GET", &format!("/webhooks/{id}"), &app.api_key, None).await;
    assert_eq!(got.status, StatusCode::OK);
    assert!(!got.body.to_string().contains(&secret) && got.body.get("signing_secret").is_none());
    let listed = app.call("GET", "/webhooks", &app.api_key, None).await;
    assert_eq!(listed.body["webhooks"].as_array().expect("list").len(), 1);
    assert!(!listed.body.to_string().contains(&secret));

    let patched = app
        .call("PATCH", &format!("/webhooks/{id}"), &app.api_key, Some(json!({"is_active": true, "name": "ops-2"})))
        .await;
    assert_eq!((patched.status, patched.body["is_active"].clone()), (StatusCode::OK, json!(true)));
    assert_eq!(patched.body["name"], "ops-2");
    assert_eq!(patched.body["url"], got.body["url"], "what the patch leaves out stays");

    // Another client's webhook is answered exactly like a missing one, whatever it asks.
    let missing = json!({"detail": "Webhook not found"});
    for (method, path, body) in [
        ("GET", format!("/webhooks/{id}"), None),
        ("PATCH", format!("/webhooks/{id}"), Some(json!({"is_active": false}))),
        ("DELETE", format!("/webhooks/{id}"), None),
        ("POST", format!("/webhooks/{id}/rotate-secret"), None),
        ("GET", format!("/webhooks/{id}/deliveries"), None),
        ("GET", "/webhooks/01JAAAAAAAAAAAAAAAAAAAAAAA".to_owned(), None),
        ("GET", "/webhooks/not-an-id".to_owned(), None),
    ] {
        let r = app.call(method, &path, &other, body).await;
        assert_eq!((r.status, r.body.clone()), (StatusCode::NOT_FOUND, missing.clone()), "{method} {path}");
    }
    assert_eq!(app.call("GET", "/webhooks", &other, None).await.body, json!({"webhooks": []}));

    // A rotation shows the new secret once; the old one keeps signing for a day.
    let rotated = app.call("POST", &format!("/webhooks/{id}/rotate-secret"), &app.api_key, None).await;
    assert_eq!(rotated.status, StatusCode::OK);
    let new_secret = rotated.body["signing_secret"].as_str().expect("secret");
    assert!(new_secret.starts_with("whsec_") && new_secret != secret);
    assert!(rotated.body["previous_secret_expires_at"].as_i64().expect("expiry") > 86_000);

    assert_eq!(app.call("DELETE", &format!("/webhooks/{id}"), &app.api_key, None).await.status, 204);
    assert_eq!(app.call("GET", &format!("/webhooks/{id}"), &app.api_key, None).await.status, 404);
}

async fn bad_webhook_bodies_are_422_with_pydantic_shapes(db: TestDb) {
    let app = spawn(db).await;
    let r = create(
        &app,
        &app.api_key,
        json!({"url": 5, "event_types": ["connection.created", "nope"], "is_active": "maybe"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let errors: Vec<(Value, Value)> =
        r.body["detail"].as_array().expect("detail").iter().map(|e| (e["type"].clone(), e["loc"].clone())).collect();
    assert_eq!(
        errors,
        [
            (json!("missing"), json!(["body", "name"])),
            (json!("string_type"), json!(["body", "url"])),
            (json!("literal_error"), json!(["body", "event_types", 1])),
            (json!("bool_parsing"), json!(["body", "is_active"])),
        ]
    );
    let r = create(&app, &app.api_key, json!({"name": "n", "url": nowhere(), "event_types": []})).await;
    assert_eq!(r.body["detail"][0]["type"], "too_short");
    let r = create(&app, &app.api_key, json!({"name": "n", "url": "ftp://x/y", "event_types": ALL_TYPES})).await;
    assert_eq!(
        (r.status, r.body["detail"][0]["loc"].clone()),
        (StatusCode::UNPROCESSABLE_ENTITY, json!(["body", "url"]))
    );
}

/// The outbox is written with the change that causes it: for each active webhook of the
/// connection's client subscribed to the event's type, and no other.
async fn events_are_written_with_their_change_for_subscribed_active_webhooks_only(db: TestDb) {
    let app = spawn(db).await;
    let (_, other) = app.new_client("other").await;
    let hook = async |key: String, types: Vec<&'static str>, active: bool| {
        let r =
            create(&app, &key, json!({"name": "n", "url": nowhere(), "event_types": types, "is_active": active})).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        r.body["webhook_id"].as_str().expect("id").to_owned()
    };
    let all = hook(app.api_key.clone(), ALL_TYPES.to_vec(), true).await;
    let deleted_only = hook(app.api_key.clone(), vec!["connection.deleted"], true).await;
    let paused = hook(app.api_key.clone(), ALL_TYPES.to_vec(), false).await;
    let others = hook(other.clone(), ALL_TYPES.to_vec(), true).await;

    let conn = app.create_connection(&app.api_key, "cust").await;
    let r =
        app.call("PATCH", &format!("/connections/{conn}"), &app.api_key, Some(json!({"status": "disconnected"}))).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(app.call("DELETE", &format!("/connections/{conn}"), &app.api_key, None).await.status, 204);

    let log = async |id: String, key: String| {
        let r = app.call("GET", &format!("/webhooks/{id}/deliveries"), &key, None).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let mut types: Vec<String> = r.body["deliveries"]
            .as_array()
            .expect("deliveries")
            .iter()
            .map(|d| {
                assert_eq!(d["connection_id"], conn.as_str());
                assert!(d["delivered_at"].is_null(), "nothing listens there");
                d["type"].as_str().expect("type").to_owned()
            })
            .collect();
        types.reverse();
        types
    };
    assert_eq!(
        log(all, app.api_key.clone()).await,
        ["connection.created", "connection.disconnected", "connection.deleted"]
    );
    assert_eq!(log(deleted_only, app.api_key.clone()).await, ["connection.deleted"]);
    assert!(log(paused, app.api_key.clone()).await.is_empty(), "an inactive webhook gets nothing");
    assert!(log(others, other.clone()).await.is_empty(), "another client's webhook hears nothing of this");

    // The dispatcher tried, failed (nothing listens) and says so in the metrics.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let metrics =
            app.raw("GET", "/metrics", &[], vec![]).await.body["_raw"].as_str().unwrap_or_default().to_owned();
        let value = |name: &str| {
            metrics.lines().find(|l| l.starts_with(name)).and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        };
        let retried = value("tessera_webhook_deliveries_total{outcome=\"retried\"}").expect("the counter is listed");
        assert_eq!(value("tessera_webhook_deliveries_total{outcome=\"delivered\"}"), Some(0.0));
        assert!(value("tessera_webhook_outbox_depth").is_some());
        assert!(value("tessera_webhook_oldest_undelivered_age_seconds").is_some());
        if retried >= 2.0 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the first attempts were counted as retried");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

crate::both_backends!(
    webhooks_are_kept_per_client_and_their_secret_is_shown_once,
    bad_webhook_bodies_are_422_with_pydantic_shapes,
    events_are_written_with_their_change_for_subscribed_active_webhooks_only,
);
