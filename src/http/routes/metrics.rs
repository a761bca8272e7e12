//! `GET /metrics`: Prometheus' text format; with `--metrics-token`, only for its bearer.
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};

use crate::http::error::ApiError;
use crate::service::AppState;

/// The metrics page; with `--metrics-token`, only for `Authorization: Bearer <token>`.
pub(crate) async fn metrics(State(app): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(token) = &app.metrics_token {
        match bearer_token(&headers) {
            None => return ApiError::Unauthorized(METRICS_TOKEN_MISSING).into_response(),
            Some(presented) if !token.matches(presented) => {
                return ApiError::Unauthorized(METRICS_TOKEN_INVALID).into_response();
            }
            Some(_) => {}
        }
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], app.render_metrics()).into_response()
}

const METRICS_TOKEN_MISSING: &str = "Not authenticated: send the metrics token as Authorization: Bearer <token>";
const METRICS_TOKEN_INVALID: &str = "Invalid metrics token";

/// The credential of `Authorization: Bearer <credential>` (scheme in any case), if present.
fn bearer_token(headers: &HeaderMap) -> Option<&[u8]> {
    let value = headers.get(header::AUTHORIZATION)?.as_bytes();
    let (scheme, rest) = value.split_at_checked(6)?;
    if !scheme.eq_ignore_ascii_case(b"bearer") || !rest.starts_with(b" ") {
        return None;
    }
    Some(rest.trim_ascii()).filter(|t| !t.is_empty())
}
