//! `/connections`: create, list, read, update and delete a client's connections.
use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Serialize;
use serde_json::Value;

use crate::domain::connection::{Connection, ConnectionPatch, ConnectionStatus, NewConnection};
use crate::http::error::ApiError;
use crate::http::extract::{Caller, ConnectionPath, check_connection_token};
use crate::http::idempotency;
use crate::http::json::ApiBody;
use crate::http::models::{create_connection, update_connection};
use crate::http::validation::{FieldError, Fields, Loc, RawBody, body_object};
use crate::service::AppState;
use crate::storage::cause;

/// `ConnectionResponse`: `email` and `mobile` are always present, `null` when unset.
#[derive(Serialize)]
pub(crate) struct ConnectionResponse {
    pub connection_id: String,
    pub customer_id: String,
    pub retailer_id: String,
    pub status: ConnectionStatus,
    pub email: Option<String>,
    pub mobile: Option<String>,
}

impl From<Connection> for ConnectionResponse {
    fn from(c: Connection) -> Self {
        Self {
            connection_id: c.id.to_string(),
            customer_id: c.customer_id,
            retailer_id: c.retailer_id,
            status: c.status,
            email: c.email,
            mobile: c.mobile,
        }
    }
}

#[derive(Serialize)]
pub(crate) struct GetConnectionsResponse {
    pub connections: Vec<ConnectionResponse>,
}

/// `CreateConnection`, validated.
fn parse_create(body: &RawBody) -> Result<NewConnection, Vec<FieldError>> {
    let mut f = Fields::new(body_object(body)?);
    let customer_id = f.required_str(&create_connection::CUSTOMER_ID);
    let retailer_id = f.required_str(&create_connection::RETAILER_ID);
    let email = f.optional_str(&create_connection::EMAIL).flatten();
    let mobile = f.optional_str(&create_connection::MOBILE).flatten();
    f.finish(NewConnection { customer_id, retailer_id, email, mobile })
}

/// `UpdateConnection`, validated. A `null` `customer_id` or `status` changes nothing; a
/// `null` `email` or `mobile` clears it.
fn parse_update(body: &RawBody) -> Result<ConnectionPatch, Vec<FieldError>> {
    let mut f = Fields::new(body_object(body)?);
    let customer_id = f.optional_str(&update_connection::CUSTOMER_ID).flatten();
    let email = f.optional_str(&update_connection::EMAIL);
    let mobile = f.optional_str(&update_connection::MOBILE);
    let status = f.optional_literal(&update_connection::STATUS).map(|_| ConnectionStatus::Disconnected);
    f.finish(ConnectionPatch { customer_id, email, mobile, status })
}

pub(crate) async fn create_connection(
    State(app): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    ApiBody(body): ApiBody,
) -> Result<Response, ApiError> {
    let key = idempotency::key(&headers)?;
    let new = parse_create(&body)?;
    let retry = key.map(|k| k.retry("create connection", &body));
    idempotency::once(
        &app,
        &caller,
        retry,
        async {
            let connection =
                app.core.connections().create(&caller.client_id, &caller.api_key_id, new, app.clock.now()).await?;
            let body =
                serde_json::to_value(ConnectionResponse::from(connection)).map_err(|e| ApiError::Internal(cause(e)))?;
            Ok((StatusCode::CREATED, body))
        },
        idempotency::always,
    )
    .await
}

pub(crate) async fn list_connections(
    State(app): State<AppState>,
    caller: Caller,
    RawQuery(query): RawQuery,
) -> Result<Json<GetConnectionsResponse>, ApiError> {
    // As the reference stack does, a repeated parameter takes its last value.
    let customer_id = url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .filter(|(k, _)| k == "customer_id")
        .last()
        .map(|(_, v)| v.into_owned())
        .ok_or_else(|| vec![FieldError::missing(vec![Loc::from("query"), Loc::from("customer_id")], Value::Null)])?;
    let connections = app.core.connections().list(&caller.client_id, &customer_id).await?;
    Ok(Json(GetConnectionsResponse { connections: connections.into_iter().map(Into::into).collect() }))
}

/// With `X-Api-Key` and `Authorization: Bearer <connection token>` together (the older
/// Subtotal mode), the token must be a live `access` token of the key's client for this very
/// connection.
pub(crate) async fn get_connection(
    State(app): State<AppState>,
    caller: Caller,
    ConnectionPath(id): ConnectionPath,
    headers: HeaderMap,
) -> Result<Json<ConnectionResponse>, ApiError> {
    check_connection_token(&app, &caller, &id, &headers).await?;
    let connection = app.core.connections().find(&caller.client_id, &id).await?.ok_or(ApiError::ConnectionNotFound)?;
    Ok(Json(connection.into()))
}

pub(crate) async fn update_connection(
    State(app): State<AppState>,
    caller: Caller,
    path: Result<ConnectionPath, ApiError>,
    ApiBody(body): ApiBody,
) -> Result<Json<ConnectionResponse>, ApiError> {
    // The body is validated before the connection is looked for, as the reference does.
    let patch = parse_update(&body)?;
    let ConnectionPath(id) = path?;
    let updated = app
        .core
        .connections()
        .update(&caller.client_id, &caller.api_key_id, &id, &patch, app.clock.now())
        .await?
        .ok_or(ApiError::ConnectionNotFound)?;
    Ok(Json(updated.into()))
}

pub(crate) async fn delete_connection(
    State(app): State<AppState>,
    caller: Caller,
    ConnectionPath(id): ConnectionPath,
) -> Result<StatusCode, ApiError> {
    if app.core.connections().delete(&caller.client_id, &caller.api_key_id, &id, app.clock.now()).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::ConnectionNotFound)
    }
}
