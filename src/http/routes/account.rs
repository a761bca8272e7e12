//! `GET /account`: who the caller is, as Subtotal documents it - the client, and `scopes`:
//! `null` for an API key (unscoped), the token's scopes for a partner app.
use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use crate::http::error::ApiError;
use crate::http::extract::Caller;
use crate::service::{self, AppState};

pub async fn account(State(app): State<AppState>, caller: Caller) -> Result<Json<Value>, ApiError> {
    let name = service::clients::find(app.store.as_ref(), &caller.client_id).await?.map(|c| c.name);
    let partner = caller.partner.as_ref().map(|p| json!({"issuer": p.issuer, "client_id": p.partner_client_id}));
    Ok(Json(json!({
        "client_id": caller.client_id.as_str(),
        "name": name,
        "scopes": caller.scopes(),
        "partner": partner,
    })))
}
