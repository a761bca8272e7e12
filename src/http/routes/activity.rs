//! `GET /connections/{connection_id}/activity`: the connection's events, newest first, with
//! cursor pagination (`limit`, `starting_after`).
use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use serde_json::{Value, json};

use crate::http::error::ApiError;
use crate::http::extract::check_connection_token;
use crate::http::extract::{Caller, ConnectionPath};
use crate::http::validation::{FieldError, Loc};
use crate::service::{self, AppState};

const DEFAULT_LIMIT: u32 = 20;
const MAX_LIMIT: i64 = 100;

/// `limit` as FastAPI's `Query(20, ge=1, le=100)` reads it, with the same errors.
pub fn parse_limit(raw: Option<String>) -> Result<u32, ApiError> {
    let loc = vec![Loc::from("query"), Loc::from("limit")];
    let Some(raw) = raw else { return Ok(DEFAULT_LIMIT) };
    let n: i64 = raw.trim().parse().map_err(|_| {
        ApiError::Validation(vec![FieldError {
            kind: "int_parsing",
            loc: loc.clone(),
            msg: "Input should be a valid integer, unable to parse string as an integer".into(),
            input: Value::String(raw.clone()),
            ctx: None,
        }])
    })?;
    let bound = |kind, msg: &str, ctx| {
        ApiError::Validation(vec![FieldError { kind, loc: loc.clone(), msg: msg.into(), input: json!(raw), ctx }])
    };
    if n < 1 {
        return Err(bound("greater_than_equal", "Input should be greater than or equal to 1", Some(json!({"ge": 1}))));
    }
    if n > MAX_LIMIT {
        return Err(bound(
            "less_than_equal",
            "Input should be less than or equal to 100",
            Some(json!({"le": MAX_LIMIT})),
        ));
    }
    // Within 1..=MAX_LIMIT, checked above.
    Ok(u32::try_from(n).unwrap_or(DEFAULT_LIMIT))
}

pub async fn activity(
    State(app): State<AppState>,
    caller: Caller,
    ConnectionPath(id): ConnectionPath,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    check_connection_token(&app, &caller, &id, &headers).await?;
    let params: Vec<(String, String)> =
        url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()).into_owned().collect();
    let last = |name: &str| params.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let limit = parse_limit(last("limit"))?;
    // Event ids never hold a NUL character (which PostgreSQL cannot compare): a cursor is
    // read up to its first one.
    let cursor = last("starting_after").map(|c| match c.split_once('\0') {
        Some((before, _)) => before.to_owned(),
        None => c,
    });
    service::connections::find(app.store.as_ref(), &caller.client_id, &id)
        .await?
        .ok_or(ApiError::ConnectionNotFound)?;
    // One more than asked for tells whether there is another page.
    let mut events =
        service::connections::events(app.store.as_ref(), &caller.client_id, &id, cursor.as_deref(), limit + 1).await?;
    let has_more = events.len() > limit as usize;
    events.truncate(limit as usize);
    let next = if has_more { events.last().map(|e| e.event_id.clone()) } else { None };
    Ok(Json(json!({ "events": events, "has_more": has_more, "next_cursor": next })))
}
