//! `GET /account`: who the caller is, as Subtotal documents it - the client, and `scopes`:
//! `null` for an API key (unscoped), the token's scopes for a partner app. `PATCH /account`:
//! a client renames itself (with an API key; recorded in the audit log).
use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use crate::http::error::{ApiError, refusal_on};
use crate::http::extract::Caller;
use crate::http::json::ApiBody;
use crate::http::models::update_account;
use crate::http::validation::{Fields, body_object};
use crate::service::{Actor, AppState};

pub(crate) async fn account(State(app): State<AppState>, caller: Caller) -> Result<Json<Value>, ApiError> {
    let name = app.core.clients().find(&caller.client_id).await?.map(|c| c.name);
    let partner = caller.partner.as_ref().map(|p| json!({"issuer": p.issuer, "client_id": p.partner_client_id}));
    Ok(Json(json!({
        "client_id": caller.client_id.as_str(),
        "name": name,
        "scopes": caller.scopes(),
        "partner": partner,
    })))
}

/// `PATCH /account` `{"name": ...}`: renames the calling client; answers as `GET /account`.
pub(crate) async fn update_account(
    State(app): State<AppState>,
    caller: Caller,
    ApiBody(body): ApiBody,
) -> Result<Json<Value>, ApiError> {
    let name = {
        let mut f = Fields::new(body_object(&body)?);
        let name = f.required_str(&update_account::NAME);
        f.finish(name)?
    };
    let renamed =
        app.core.clients().rename(Actor::ApiKey(&caller.api_key_id), &caller.client_id, &name, app.clock.now()).await;
    let client = refusal_on(renamed, "name", &name)?;
    Ok(Json(json!({
        "client_id": client.id.as_str(),
        "name": client.name,
        "scopes": caller.scopes(),
        "partner": null,
    })))
}
