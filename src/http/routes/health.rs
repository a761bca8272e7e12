//! `GET /healthz` (the process answers) and `GET /readyz` (the database answers, and the
//! signing keyring could be read at its last refresh).
use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use crate::http::error::ApiError;
use crate::service::AppState;

pub(crate) async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

pub(crate) async fn readyz(State(app): State<AppState>) -> Result<Json<Value>, ApiError> {
    app.core.health().ping().await.map_err(|_| ApiError::Unavailable)?;
    // A full disk: every write would fail, though reads answer.
    if let Err(e) = app.core.health().writable().await {
        return Err(match e {
            crate::storage::StoreError::DiskFull(_) => ApiError::DiskFull,
            _ => ApiError::Unavailable,
        });
    }
    // A clock that disagrees with the database's: this server signs no token.
    app.clock_guard.check().map_err(|why| ApiError::ClockUntrusted(why.0))?;
    // A keyring that failed its last refresh is tried again now, so readiness comes back as
    // soon as the cause is gone rather than at the next scheduled refresh.
    if !app.keyring.is_current() && app.keyring.refresh().await.is_err() {
        return Err(ApiError::Unavailable);
    }
    Ok(Json(json!({ "status": "ready" })))
}
