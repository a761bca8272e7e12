//! OAuth client authentication on introspection and revocation (RFC 6749, section 2.3.1),
//! their RFC 6749 errors, and the RFC 8414 metadata.
use base64::Engine as _;
use reqwest::StatusCode;
use serde_json::json;

use crate::api::helpers::{Response, TestApp};
use crate::support::TestDb;

const FORM: (&str, &str) = ("content-type", "application/x-www-form-urlencoded");

fn basic(id: &str, secret: &str) -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}")))
}

async fn minted(app: &TestApp) -> String {
    let conn = app.create_connection(&app.api_key, "c").await;
    let r = app.mint(&app.api_key, &conn).await;
    r.body["connection_token"].as_str().expect("token").to_owned()
}

async fn post(app: &TestApp, path: &str, auth: Option<&str>, body: String) -> Response {
    let mut headers = vec![FORM];
    if let Some(auth) = auth {
        headers.push(("authorization", auth));
    }
    app.raw("POST", path, &headers, body.into_bytes()).await
}

fn challenge(r: &Response) -> String {
    r.headers.get("www-authenticate").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
}

async fn a_stock_oauth_client_authenticates_with_basic_or_the_body(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let token = minted(&app).await;
    let id = app.client_id.as_str().to_owned();

    // client_secret_basic.
    let r = post(&app, "/tokens/introspect", Some(&basic(&id, &app.api_key)), format!("token={token}")).await;
    assert_eq!((r.status, &r.body["active"]), (StatusCode::OK, &json!(true)), "{}", r.body);
    // Each part form-urlencoded, as RFC 6749 has clients send it (a key needs no escaping,
    // but an escaped one must still be read).
    let escaped = app.api_key.replace('_', "%5F");
    let r = post(&app, "/tokens/introspect", Some(&basic(&id, &escaped)), format!("token={token}")).await;
    assert_eq!(r.body["active"], true, "{}", r.body);
    // client_secret_post.
    let body = format!("token={token}&client_id={id}&client_secret={}", app.api_key);
    let r = post(&app, "/tokens/introspect", None, body).await;
    assert_eq!(r.body["active"], true, "{}", r.body);
    let r = app
        .raw(
            "POST",
            "/tokens/introspect",
            &[("content-type", "application/json")],
            json!({"token": token, "client_id": id, "client_secret": app.api_key}).to_string().into_bytes(),
        )
        .await;
    assert_eq!(r.body["active"], true, "{}", r.body);

    // Revocation takes the same, and the token is then inactive.
    let r = post(&app, "/tokens/revoke", Some(&basic(&id, &app.api_key)), format!("token={token}")).await;
    assert_eq!((r.status, r.body), (StatusCode::OK, json!({})));
    let r = post(&app, "/tokens/introspect", Some(&basic(&id, &app.api_key)), format!("token={token}")).await;
    assert_eq!(r.body, json!({"active": false}));
}

async fn failed_client_authentication_is_invalid_client(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let (other_id, other_key) = app.new_client("other").await;
    let id = app.client_id.as_str().to_owned();
    let token = minted(&app).await;
    let body = || format!("token={token}");

    for (what, auth) in [
        ("wrong secret", basic(&id, "tsk_nope")),
        ("another client's key", basic(&id, &other_key)),
        ("a key under another client's id", basic(other_id.as_str(), &app.api_key)),
        ("not base64", "Basic %%%".to_owned()),
        ("no colon", format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("abc"))),
    ] {
        for path in ["/tokens/introspect", "/tokens/revoke"] {
            let r = post(&app, path, Some(&auth), body()).await;
            assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{what} {path}");
            assert_eq!(r.body["error"], "invalid_client", "{what}");
            assert_eq!(r.body["error_description"], "Invalid client credentials", "{what}");
            assert_eq!(r.body["detail"], r.body["error_description"]);
            assert!(challenge(&r).starts_with("Basic"), "{what}: {}", challenge(&r));
        }
    }
    // Wrong credentials in the body; none at all.
    let r = post(&app, "/tokens/introspect", None, format!("token={token}&client_id={id}&client_secret=x")).await;
    assert_eq!((r.status, &r.body["error"]), (StatusCode::UNAUTHORIZED, &json!("invalid_client")));
    let r = post(&app, "/tokens/introspect", None, body()).await;
    assert_eq!((r.status, &r.body["error"]), (StatusCode::UNAUTHORIZED, &json!("invalid_client")));
    assert!(r.body["error_description"].as_str().expect("text").contains("client id"), "{}", r.body);
    // A bad API key in the usual headers is invalid_client too, with the Bearer challenge.
    let r = post(&app, "/tokens/introspect", Some("Bearer tsk_nope"), body()).await;
    assert_eq!((r.status, &r.body["error"]), (StatusCode::UNAUTHORIZED, &json!("invalid_client")));
    assert_eq!(challenge(&r), "Bearer");
    // Two methods in one request are refused (RFC 6749, section 2.3).
    let both = format!("token={token}&client_id={id}&client_secret={}", app.api_key);
    let r = post(&app, "/tokens/introspect", Some(&basic(&id, &app.api_key)), both).await;
    assert_eq!((r.status, &r.body["error"]), (StatusCode::BAD_REQUEST, &json!("invalid_request")));
    // A missing token, with good credentials.
    let r = post(&app, "/tokens/introspect", Some(&basic(&id, &app.api_key)), String::new()).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.body["error"], "invalid_request");
    assert_eq!(r.headers.get("cache-control").and_then(|v| v.to_str().ok()), Some("no-store"));
    // Nothing was introspected or revoked under the failed credentials.
    let r = app.call("POST", "/tokens/introspect", &app.api_key, Some(json!({"token": token}))).await;
    assert_eq!(r.body["active"], true);
}

async fn the_authorization_server_metadata_names_the_endpoints(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let r = app.raw("GET", "/.well-known/oauth-authorization-server", &[], vec![]).await;
    assert_eq!(r.status, StatusCode::OK);
    let public = app.app_state.link.public_url.clone();
    assert_eq!(r.body["issuer"], public.as_str());
    assert_eq!(r.body["introspection_endpoint"], format!("{public}/tokens/introspect"));
    assert_eq!(r.body["revocation_endpoint"], format!("{public}/tokens/revoke"));
    assert_eq!(r.body["jwks_uri"], format!("{public}/.well-known/jwks.json"));
    let methods = json!(["client_secret_basic", "client_secret_post"]);
    assert_eq!(r.body["introspection_endpoint_auth_methods_supported"], methods);
    assert_eq!(r.body["revocation_endpoint_auth_methods_supported"], methods);
    // The endpoints it names answer.
    let jwks = app.raw("GET", "/.well-known/jwks.json", &[], vec![]).await;
    assert_eq!(jwks.status, StatusCode::OK);
}

crate::both_backends!(
    a_stock_oauth_client_authenticates_with_basic_or_the_body,
    failed_client_authentication_is_invalid_client,
    the_authorization_server_metadata_names_the_endpoints,
);
