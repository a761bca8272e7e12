//! `/connector/...`: the operator's connector service reports what it sees of a connection.
//! It may move any client's connection through the lifecycle and read it; it can do nothing
//! a client does (mint tokens, create or delete connections).
use axum::Json;
use axum::extract::State;

use super::connections::ConnectionResponse;
use crate::domain::connection::ConnectionStatus;
use crate::http::error::ApiError;
use crate::http::extract::{ConnectionPath, Connector};
use crate::http::json::ApiBody;
use crate::http::models::report_status;
use crate::http::validation::{Fields, body_object};
use crate::service::AppState;
use crate::storage::StatusChange;

/// `PUT /connector/connections/{connection_id}/status`: `{"status", "reason"?}`. Reporting the
/// status a connection already has changes nothing; a move the lifecycle does not allow is
/// `409` naming both statuses.
pub(crate) async fn report_status(
    State(app): State<AppState>,
    connector: Connector,
    path: Result<ConnectionPath, ApiError>,
    ApiBody(body): ApiBody,
) -> Result<Json<ConnectionResponse>, ApiError> {
    let (to, reason) = {
        let mut f = Fields::new(body_object(&body)?);
        let status = f.required_literal(&report_status::STATUS);
        let reason = f.optional_str(&report_status::REASON).flatten();
        f.finish((status, reason))?
    };
    let ConnectionPath(id) = path?;
    let to: ConnectionStatus = to.unwrap_or_default().parse().map_err(|_| ApiError::internal("unparsed status"))?;
    let now = app.clock.now();
    match app.core.connections().report_status(&connector.id, &id, to, reason.as_deref(), now).await? {
        StatusChange::NotFound => Err(ApiError::ConnectionNotFound),
        StatusChange::Unchanged(c) | StatusChange::Moved { connection: c, .. } => Ok(Json(c.into())),
        StatusChange::Refused { from, to } => Err(crate::http::error::lifecycle_refusal(from, to)),
    }
}

/// `GET /connector/connections/{connection_id}`: any client's connection.
pub(crate) async fn get_connection(
    State(app): State<AppState>,
    _connector: Connector,
    ConnectionPath(id): ConnectionPath,
) -> Result<Json<ConnectionResponse>, ApiError> {
    let connection = app.core.connections().find_any(&id).await?.ok_or(ApiError::ConnectionNotFound)?;
    Ok(Json(connection.into()))
}
