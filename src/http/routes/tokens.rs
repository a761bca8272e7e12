//! `POST /connections/{connection_id}/token`: the seed endpoint.
use axum::extract::State;
use axum::http::HeaderMap;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;

use super::connections::NOT_FOUND;
use crate::app::AppState;
use crate::domain::connection::ConnectionStatus;
use crate::http::error::ApiError;
use crate::http::extract::{Caller, ConnectionPath};
use crate::http::idempotency;
use crate::http::json::ApiBody;
use crate::http::validation::{FieldError, Fields, RawBody, body_object};
use crate::token::claims::SCOPE_ACCESS;

/// `CreateTokenRequest`: `{"scope": "access"}`.
fn parse_request(body: &RawBody) -> Result<(), Vec<FieldError>> {
    let mut f = Fields::new(body_object(body)?);
    f.required_literal("scope", &[SCOPE_ACCESS]);
    f.finish(())
}

/// Authentication (the `Caller` extractor) runs first, then body validation, then the
/// connection lookup: another client's connection is answered exactly like a missing one.
pub async fn create_connection_token(
    State(app): State<AppState>,
    caller: Caller,
    ConnectionPath(id): ConnectionPath,
    headers: HeaderMap,
    ApiBody(body): ApiBody,
) -> Result<Response, ApiError> {
    let key = idempotency::key(&headers)?;
    parse_request(&body)?;
    let fingerprint =
        if key.is_some() { idempotency::fingerprint(&format!("token {id}"), &body) } else { String::new() };
    idempotency::once(&app, &caller, key, fingerprint, async {
        let connection =
            app.store.find_connection(&caller.client_id, &id).await?.ok_or(ApiError::NotFound(NOT_FOUND))?;
        if connection.status == ConnectionStatus::Disconnected {
            return Err(ApiError::Conflict(
                "Connection is disconnected: a disconnected connection cannot be issued tokens".into(),
            ));
        }
        let connection_token = app.minter.mint(&connection, &caller.api_key_id).await?;
        app.metrics.token_minted();
        Ok((StatusCode::CREATED, json!({ "connection_token": connection_token })))
    })
    .await
}
