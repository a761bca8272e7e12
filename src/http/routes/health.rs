//! `GET /healthz` (the process answers) and `GET /readyz` (the database answers too).
use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use crate::app::AppState;
use crate::http::error::ApiError;

pub async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

pub async fn readyz(State(app): State<AppState>) -> Result<Json<Value>, ApiError> {
    app.store.ping().await.map_err(|_| ApiError::Unavailable)?;
    Ok(Json(json!({ "status": "ready" })))
}
