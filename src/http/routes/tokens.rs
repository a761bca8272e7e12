//! `POST /connections/{connection_id}/token`: the seed endpoint.
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;

use super::connections::NOT_FOUND;
use crate::app::AppState;
use crate::domain::connection::ConnectionStatus;
use crate::http::error::ApiError;
use crate::http::extract::{Caller, ConnectionPath};
use crate::http::json::ApiBody;
use crate::http::validation::{FieldError, Fields, RawBody, body_object};
use crate::token::claims::SCOPE_ACCESS;

#[derive(Serialize)]
pub struct ConnectionTokenResponse {
    pub connection_token: String,
}

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
    ApiBody(body): ApiBody,
) -> Result<(StatusCode, Json<ConnectionTokenResponse>), ApiError> {
    parse_request(&body)?;
    let connection = app.store.find_connection(&caller.client_id, &id).await?.ok_or(ApiError::NotFound(NOT_FOUND))?;
    if connection.status == ConnectionStatus::Disconnected {
        return Err(ApiError::Conflict(
            "Connection is disconnected: a disconnected connection cannot be issued tokens".into(),
        ));
    }
    let connection_token = app.minter.mint(&connection, &caller.api_key_id).await?;
    app.metrics.token_minted();
    Ok((StatusCode::CREATED, Json(ConnectionTokenResponse { connection_token })))
}
