//! `/connections`: shapes, validation errors in the reference stack's form, tenant scoping.
use reqwest::StatusCode;
use serde_json::json;

use crate::api::helpers::TestApp;
use crate::support::TestDb;

async fn create_returns_the_full_connection_response(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let r = app
        .call(
            "POST",
            "/connections",
            &app.api_key,
            Some(json!({"customer_id": "c-1", "retailer_id": "target", "email": "a@b.co"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let id = r.body["connection_id"].as_str().expect("id");
    assert_eq!(id.len(), 26, "a ULID");
    assert!(ulid::Ulid::from_string(id).is_ok());
    assert_eq!(
        r.body,
        json!({"connection_id": id, "customer_id": "c-1", "retailer_id": "target", "status": "initialized",
               "email": "a@b.co", "mobile": null})
    );
}

async fn create_validation_errors_match_pydantic(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let long = "x".repeat(65);
    let r = app.call("POST", "/connections", &app.api_key, Some(json!({"customer_id": long, "mobile": 5}))).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        r.body,
        json!({"detail": [
            {"type": "string_too_long", "loc": ["body", "customer_id"], "msg": "String should have at most 64 characters",
             "input": long, "ctx": {"max_length": 64}},
            {"type": "missing", "loc": ["body", "retailer_id"], "msg": "Field required",
             "input": {"customer_id": long, "mobile": 5}},
            {"type": "string_type", "loc": ["body", "mobile"], "msg": "Input should be a valid string", "input": 5}
        ]})
    );
    // Lengths count characters, not bytes.
    let r = app
        .call("POST", "/connections", &app.api_key, Some(json!({"customer_id": "é".repeat(64), "retailer_id": "w"})))
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
}

async fn list_get_patch_delete_round_trip(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let a = app.create_connection(&app.api_key, "cust").await;
    let b = app.create_connection(&app.api_key, "cust").await;
    app.create_connection(&app.api_key, "someone-else").await;

    let r = app.call("GET", "/connections?customer_id=cust", &app.api_key, None).await;
    assert_eq!(r.status, StatusCode::OK);
    let ids: Vec<_> =
        r.body["connections"].as_array().expect("list").iter().map(|c| c["connection_id"].clone()).collect();
    let mut expected = [a.clone(), b.clone()];
    expected.sort();
    assert_eq!(ids, expected.iter().map(|s| json!(s)).collect::<Vec<_>>(), "ordered by connection id");

    let r = app.call("GET", "/connections", &app.api_key, None).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        r.body,
        json!({"detail": [{"type": "missing", "loc": ["query", "customer_id"], "msg": "Field required", "input": null}]})
    );

    let r = app
        .call(
            "PATCH",
            &format!("/connections/{a}"),
            &app.api_key,
            Some(json!({"email": "new@x.io", "mobile": "+1555"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!((r.body["email"].clone(), r.body["mobile"].clone()), (json!("new@x.io"), json!("+1555")));
    let r = app.call("PATCH", &format!("/connections/{a}"), &app.api_key, Some(json!({"email": null}))).await;
    assert_eq!(r.body["email"], json!(null));
    assert_eq!(r.body["mobile"], json!("+1555"), "absent fields are left alone");

    let r = app.call("PATCH", &format!("/connections/{a}"), &app.api_key, Some(json!({"status": "active"}))).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.body["detail"][0]["msg"], "Input should be 'disconnected'");
    let r =
        app.call("PATCH", &format!("/connections/{a}"), &app.api_key, Some(json!({"status": "disconnected"}))).await;
    assert_eq!(r.body["status"], "disconnected");
    let r = app.call("GET", &format!("/connections/{a}"), &app.api_key, None).await;
    assert_eq!((r.status, r.body["status"].clone()), (StatusCode::OK, json!("disconnected")));

    let r = app.call("DELETE", &format!("/connections/{a}"), &app.api_key, None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    for method in ["GET", "DELETE"] {
        let r = app.call(method, &format!("/connections/{a}"), &app.api_key, None).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{method}");
        assert_eq!(r.body, json!({"detail": "Connection not found"}));
    }
    let r = app.mint(&app.api_key, &a).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "a deleted connection gets no token");
}

async fn every_connection_route_is_scoped_to_the_callers_client(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let (_, other) = app.new_client("other").await;
    let mine = app.create_connection(&app.api_key, "shared-customer").await;
    app.create_connection(&other, "shared-customer").await;

    let r = app.call("GET", "/connections?customer_id=shared-customer", &app.api_key, None).await;
    assert_eq!(r.body["connections"].as_array().expect("list").len(), 1);

    let path = format!("/connections/{mine}");
    for (method, body) in [("GET", None), ("PATCH", Some(json!({"email": "x@y.z"}))), ("DELETE", None)] {
        let r = app.call(method, &path, &other, body).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{method}");
        assert_eq!(r.body, json!({"detail": "Connection not found"}));
    }
    let r = app.call("GET", &path, &app.api_key, None).await;
    assert_eq!((r.status, r.body["email"].clone()), (StatusCode::OK, json!(null)), "untouched by the other client");
}

async fn connection_routes_require_a_key(db: TestDb) {
    let app = TestApp::spawn(db).await;
    for (method, path) in [("POST", "/connections"), ("GET", "/connections?customer_id=x"), ("GET", "/connections/abc")]
    {
        let r = app.raw(method, path, &[("content-type", "application/json")], b"{}".to_vec()).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{method} {path}");
    }
}

crate::both_backends!(
    create_returns_the_full_connection_response,
    create_validation_errors_match_pydantic,
    list_get_patch_delete_round_trip,
    every_connection_route_is_scoped_to_the_callers_client,
    connection_routes_require_a_key
);
