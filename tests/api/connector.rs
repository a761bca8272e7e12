//! The connector's side: credentials of their own, and the lifecycle's state machine.
use reqwest::StatusCode;
use serde_json::{Value, json};
use tessera::auth::api_key::PlainApiKey;
use tessera::domain::connector::ConnectorCredential;

use crate::api::helpers::TestApp;
use crate::support::TestDb;

/// A connector credential made as `tessera connector create` makes one.
async fn connector(app: &TestApp) -> (String, String) {
    let (id, credential) = PlainApiKey::generate_connector();
    let record = ConnectorCredential {
        id: id.clone(),
        name: "c".into(),
        digest: credential.digest(),
        created_at: 1,
        revoked_at: None,
    };
    app.store.create_connector(&record).await.expect("connector");
    (id.to_string(), credential.expose().to_owned())
}

async fn report(app: &TestApp, credential: &str, conn: &str, body: Value) -> crate::api::helpers::Response {
    app.call("PUT", &format!("/connector/connections/{conn}/status"), credential, Some(body)).await
}

async fn status_events(app: &TestApp, conn: &str) -> Vec<Value> {
    let r = app.call("GET", &format!("/connections/{conn}/activity?limit=100"), &app.api_key, None).await;
    let mut events: Vec<Value> = r.body["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["type"] == "status_changed")
        .cloned()
        .collect();
    events.reverse();
    events
}

async fn the_lifecycle_is_the_documented_state_machine(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let (connector_id, credential) = connector(&app).await;
    let conn = app.create_connection(&app.api_key, "cust").await;

    // initialized -> unauthenticated is not a move the lifecycle has.
    let r = report(&app, &credential, &conn, json!({"status": "unauthenticated"})).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    let detail = r.body["detail"].as_str().expect("detail");
    assert!(detail.contains("initialized") && detail.contains("unauthenticated"), "{detail}");

    for (to, reason) in [("active", None), ("unauthenticated", Some("password changed")), ("active", None)] {
        let mut body = json!({"status": to});
        if let Some(reason) = reason {
            body["reason"] = json!(reason);
        }
        let r = report(&app, &credential, &conn, body).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(r.body["status"], to);
        assert_eq!(r.body["connection_id"], conn.as_str());
    }
    // The status it already has: a no-op, not a new event.
    let before = status_events(&app, &conn).await.len();
    let r = report(&app, &credential, &conn, json!({"status": "active"})).await;
    assert_eq!((r.status, r.body["status"].clone()), (StatusCode::OK, json!("active")));
    assert_eq!(status_events(&app, &conn).await.len(), before);

    // Disconnecting revokes the connection's tokens, whoever does it.
    let minted = app.mint(&app.api_key, &conn).await;
    let token = minted.body["connection_token"].as_str().expect("token").to_owned();
    let r = report(&app, &credential, &conn, json!({"status": "disconnected"})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let live = app.call("POST", "/tokens/introspect", &app.api_key, Some(json!({"token": token}))).await;
    assert_eq!(live.body, json!({"active": false}));
    assert_eq!(app.mint(&app.api_key, &conn).await.status, StatusCode::CONFLICT);
    // Disconnected is final.
    let r = report(&app, &credential, &conn, json!({"status": "active"})).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert!(r.body["detail"].as_str().expect("detail").contains("from disconnected to active"));

    // The activity log says who moved it, and why.
    let events = status_events(&app, &conn).await;
    let moves: Vec<(Value, Value)> =
        events.iter().map(|e| (e["data"]["from"].clone(), e["data"]["to"].clone())).collect();
    assert_eq!(
        moves,
        [
            (json!("initialized"), json!("active")),
            (json!("active"), json!("unauthenticated")),
            (json!("unauthenticated"), json!("active")),
            (json!("active"), json!("disconnected")),
        ]
    );
    for e in &events {
        assert_eq!(e["data"]["connector_id"], connector_id.as_str());
        assert_eq!(e["api_key_id"], Value::Null);
    }
    assert_eq!(events[1]["data"]["reason"], "password changed");
    assert_eq!(events[3]["data"]["tokens_revoked"], 1);
}

async fn connector_credentials_and_client_keys_are_not_interchangeable(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let (connector_id, credential) = connector(&app).await;
    let conn = app.create_connection(&app.api_key, "cust").await;
    // A client key where a connector credential is required, and the other way round: 401.
    let r = report(&app, &app.api_key, &conn, json!({"status": "active"})).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.headers["www-authenticate"], "Bearer");
    let r = app.call("GET", &format!("/connector/connections/{conn}"), &app.api_key, None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    for (method, path, body) in [
        ("GET", format!("/connections/{conn}"), None),
        ("POST", format!("/connections/{conn}/token"), Some(json!({"scope": "access"}))),
        ("POST", "/connections".to_owned(), Some(json!({"customer_id": "c", "retailer_id": "r"}))),
        ("DELETE", format!("/connections/{conn}"), None),
        ("GET", "/webhooks".to_owned(), None),
    ] {
        let r = app.call(method, &path, &credential, body).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{method} {path}: {}", r.body);
    }
    // It reads any client's connection, and answers unknown ones like the client routes do.
    let r = app.call("GET", &format!("/connector/connections/{conn}"), &credential, None).await;
    assert_eq!((r.status, r.body["customer_id"].clone()), (StatusCode::OK, json!("cust")));
    for id in ["01JAAAAAAAAAAAAAAAAAAAAAAA", "not-an-id"] {
        let r = report(&app, &credential, id, json!({"status": "active"})).await;
        assert_eq!((r.status, r.body.clone()), (StatusCode::NOT_FOUND, json!({"detail": "Connection not found"})));
    }
    // Only the three statuses a connector can see.
    let r = report(&app, &credential, &conn, json!({"status": "initialized"})).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.body["detail"][0]["type"], "literal_error");
    // A revoked credential stops working at once.
    let id = tessera::domain::ids::ConnectorId::from_string(connector_id);
    app.store.revoke_connector(&id, 2).await.expect("revoke");
    let r = report(&app, &credential, &conn, json!({"status": "active"})).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

crate::both_backends!(
    the_lifecycle_is_the_documented_state_machine,
    connector_credentials_and_client_keys_are_not_interchangeable,
);
