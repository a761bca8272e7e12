//! `GET /.well-known/jwks.json`: the public signing keys.
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use crate::service::AppState;
use crate::token::keyring::JWKS_MAX_AGE_SECS;

pub(crate) async fn jwks(State(app): State<AppState>) -> impl IntoResponse {
    (
        [(header::CACHE_CONTROL, format!("public, max-age={JWKS_MAX_AGE_SECS}"))],
        axum::Json(app.keyring.jwks().as_ref().clone()),
    )
}
