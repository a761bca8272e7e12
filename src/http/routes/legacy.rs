//! The older API generation's connection paths, which Subtotal's published SDK speaks:
//! `POST /connection` (`{merchant_id, customer_id}`, answered `{"connection_id"}`),
//! `GET /connection/{connection_id}` and `POST /connection/{connection_id}/token` with scope
//! `link` or `access`. They act on the same connections as `/connections`; the seed's
//! `POST /connections/{connection_id}/token` is untouched by them. `X-Api-Key-Id`, which that
//! generation also sent, is accepted and not needed: the key in `X-Api-Key` names itself.
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};

use crate::domain::connection::{ConnectionStatus, NewConnection};
use crate::http::error::ApiError;
use crate::http::extract::{Caller, ConnectionPath, check_connection_token};
use crate::http::json::ApiBody;
use crate::http::models::{create_legacy_connection, create_legacy_token};
use crate::http::validation::{Fields, body_object};
use crate::service::AppState;
use crate::service::tokens::NotIssued;

/// The status words of that generation: `Pending Link` until the customer links the account.
pub(crate) fn legacy_status(status: ConnectionStatus) -> &'static str {
    match status {
        ConnectionStatus::Initialized => "Pending Link",
        ConnectionStatus::Active => "Active",
        ConnectionStatus::Unauthenticated => "Unauthenticated",
        ConnectionStatus::Disconnected => "Disconnected",
    }
}

/// `POST /connection`: `201 {"connection_id"}`.
pub(crate) async fn create_connection(
    State(app): State<AppState>,
    caller: Caller,
    ApiBody(body): ApiBody,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let (merchant_id, customer_id) = {
        let mut f = Fields::new(body_object(&body)?);
        let merchant_id = f.required_str(&create_legacy_connection::MERCHANT_ID);
        let customer_id = f.required_str(&create_legacy_connection::CUSTOMER_ID);
        f.finish((merchant_id, customer_id))?
    };
    let new = NewConnection { customer_id, retailer_id: merchant_id, email: None, mobile: None };
    let connection = app.core.connections().create(&caller.client_id, &caller.api_key_id, new, app.clock.now()).await?;
    Ok((StatusCode::CREATED, Json(json!({ "connection_id": connection.id }))))
}

/// `GET /connection/{connection_id}`: `{connection_id, customer_id, merchant_id, status}`.
pub(crate) async fn get_connection(
    State(app): State<AppState>,
    caller: Caller,
    ConnectionPath(id): ConnectionPath,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    check_connection_token(&app, &caller, &id, &headers).await?;
    let c = app.core.connections().find(&caller.client_id, &id).await?.ok_or(ApiError::ConnectionNotFound)?;
    Ok(Json(json!({
        "connection_id": c.id, "customer_id": c.customer_id, "merchant_id": c.retailer_id,
        "status": legacy_status(c.status),
    })))
}

/// `POST /connection/{connection_id}/token`: `{"scope": "link" | "access"}`, answered
/// `201 {"connection_token"}`. Both are minted and recorded like the seed's tokens; only an
/// `access` token reads data.
pub(crate) async fn create_connection_token(
    State(app): State<AppState>,
    caller: Caller,
    path: Result<ConnectionPath, ApiError>,
    ApiBody(body): ApiBody,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let scope = {
        let mut f = Fields::new(body_object(&body)?);
        let scope = f.required_literal(&create_legacy_token::SCOPE);
        f.finish(scope)?
    };
    let ConnectionPath(id) = path?;
    let scope = scope.ok_or_else(|| ApiError::internal("unparsed scope"))?;
    match app.minter.mint_scoped(&caller.client_id, &id, &caller.api_key_id, scope).await? {
        Some(token) => {
            app.metrics.token_minted();
            Ok((StatusCode::CREATED, Json(json!({ "connection_token": token }))))
        }
        None => Err(match app.core.tokens().why_not_issued(&caller.client_id, &caller.api_key_id, &id).await? {
            NotIssued::NoConnection => ApiError::ConnectionNotFound,
            NotIssued::Disconnected => ApiError::Conflict(
                "Connection is disconnected: a disconnected connection cannot be issued tokens".into(),
            ),
            // The key was revoked a moment ago (the issuance transaction checks it).
            NotIssued::KeyNotLive => ApiError::Unauthorized(crate::http::extract::INVALID),
            NotIssued::TryAgain => ApiError::Unavailable,
        }),
    }
}
