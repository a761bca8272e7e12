//! `GET /connections/{connection_id}/activity`: the connection's events, newest first, with
//! cursor pagination (`limit`, `starting_after`).
use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use serde_json::{Value, json};

use crate::http::error::ApiError;
use crate::http::extract::check_connection_token;
use crate::http::extract::{Caller, ConnectionPath};
use crate::http::query::QueryParams;
use crate::service::AppState;

/// Events in a page when the request names no `limit`.
const DEFAULT_LIMIT: u32 = 20;
/// The most events one page holds.
const MAX_LIMIT: u32 = 100;

pub(crate) async fn activity(
    State(app): State<AppState>,
    caller: Caller,
    ConnectionPath(id): ConnectionPath,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    check_connection_token(&app, &caller, &id, &headers).await?;
    let params = QueryParams::parse(query);
    let last = |name: &str| params.last(name);
    let limit = params.limit("limit", DEFAULT_LIMIT, MAX_LIMIT)?;
    // Event ids never hold a NUL character (which PostgreSQL cannot compare): a cursor is
    // read up to its first one.
    let cursor = last("starting_after").map(|c| match c.split_once('\0') {
        Some((before, _)) => before.to_owned(),
        None => c,
    });
    app.core.connections().find(&caller.client_id, &id).await?.ok_or(ApiError::ConnectionNotFound)?;
    // One more than asked for tells whether there is another page.
    let mut events = app.core.connections().events(&caller.client_id, &id, cursor.as_deref(), limit + 1).await?;
    let has_more = events.len() > limit as usize;
    events.truncate(limit as usize);
    let next = if has_more { events.last().map(|e| e.event_id.clone()) } else { None };
    Ok(Json(json!({ "events": events, "has_more": has_more, "next_cursor": next })))
}
