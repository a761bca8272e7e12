//! `GET /.well-known/oauth-authorization-server`: RFC 8414 metadata for the OAuth endpoints
//! tessera serves (introspection and revocation) and its signing keys, so a stock OAuth
//! client can find them and the client authentication they take. tessera authorizes no one
//! itself (it has no authorization or token endpoint), so it lists no response types.
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use serde_json::json;

use crate::http::oauth::AUTH_METHODS;
use crate::service::AppState;

pub(crate) async fn metadata(State(app): State<AppState>) -> impl IntoResponse {
    let base = app.link.public_url.trim_end_matches('/');
    (
        [(header::CACHE_CONTROL, "public, max-age=300")],
        axum::Json(json!({
            "issuer": base,
            "jwks_uri": format!("{base}/.well-known/jwks.json"),
            "introspection_endpoint": format!("{base}/tokens/introspect"),
            "introspection_endpoint_auth_methods_supported": AUTH_METHODS,
            "revocation_endpoint": format!("{base}/tokens/revoke"),
            "revocation_endpoint_auth_methods_supported": AUTH_METHODS,
            "response_types_supported": [],
        })),
    )
}
