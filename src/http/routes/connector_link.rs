//! The connector's side of Link: its sign-in page, the catalogue entries it serves, and the
//! sessions Link hands to it. A session reference is a single-use bearer secret in the path;
//! the log names the route template only.
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde_json::{Value, json};

use super::connections::ConnectionResponse;
use crate::domain::link::{ANY_RETAILER, Outcome, REFERENCE_PREFIX};
use crate::domain::time::rfc3339;
use crate::http::error::{ApiError, refusal_on};
use crate::http::extract::Connector;
use crate::http::json::ApiBody;
use crate::http::models::{complete_link_session, connector_link_url, connector_retailer};
use crate::http::validation::{FieldError, Fields, Loc, body_object};
use crate::service::{self, Actor, AppState};

const SESSION_NOT_FOUND: &str = "Link session not found or no longer at the connector";

/// `retailer_ids`: absent or `null` for every retailer, else a list of ids.
fn retailer_ids(obj: &serde_json::Map<String, Value>) -> Result<Option<Vec<String>>, ApiError> {
    let loc = || vec![Loc::from("body"), Loc::from("retailer_ids")];
    match obj.get("retailer_ids") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) if items.len() <= 1000 => {
            let mut ids = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                let Some(s) = item.as_str() else {
                    let mut at = loc();
                    at.push(Loc::Index(i));
                    return Err(ApiError::Validation(vec![FieldError {
                        kind: "string_type",
                        loc: at,
                        msg: "Input should be a valid string".into(),
                        input: item.clone(),
                        ctx: None,
                    }]));
                };
                ids.push(s.to_owned());
            }
            Ok(Some(ids))
        }
        Some(v) => Err(ApiError::Validation(vec![FieldError {
            kind: "list_type",
            loc: loc(),
            msg: "Input should be a valid list of at most 1000 retailer ids, or null".into(),
            input: v.clone(),
            ctx: None,
        }])),
    }
}

/// `PUT /connector/link-url`: `{"url", "retailer_ids"?}` registers this connector's sign-in
/// page (for the retailers named, or every retailer), replacing what it registered before.
pub(crate) async fn put_link_url(
    State(app): State<AppState>,
    connector: Connector,
    ApiBody(body): ApiBody,
) -> Result<Json<Value>, ApiError> {
    let obj = body_object(&body)?;
    let url = {
        let mut f = Fields::new(obj);
        let url = f.required_str(&connector_link_url::URL);
        f.finish(url)?
    };
    let ids = retailer_ids(obj)?;
    let urls = app.core.link().register_sign_in(&connector.id, &url, ids, app.clock.now()).await;
    let urls = refusal_on(urls, "url", &url)?;
    let retailers: Option<Vec<&str>> = match urls.first() {
        Some(u) if u.retailer_id == ANY_RETAILER => None,
        _ => Some(urls.iter().map(|u| u.retailer_id.as_str()).collect()),
    };
    let url = urls.first().map(|u| u.url.clone()).unwrap_or(url);
    Ok(Json(json!({"url": url, "retailer_ids": retailers})))
}

/// `DELETE /connector/link-url`: Link sends no customer to this connector any more.
pub(crate) async fn delete_link_url(State(app): State<AppState>, connector: Connector) -> Result<StatusCode, ApiError> {
    app.core.link().unregister_sign_in(&connector.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `PUT /connector/retailers/{retailer_id}`: `{"name"}` adds a retailer the connector serves
/// to the catalogue, or renames it.
pub(crate) async fn put_retailer(
    State(app): State<AppState>,
    _connector: Connector,
    Path(retailer_id): Path<String>,
    ApiBody(body): ApiBody,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let name = {
        let mut f = Fields::new(body_object(&body)?);
        let name = f.required_str(&connector_retailer::NAME);
        f.finish(name)?
    };
    let put = app.core.retailers().put(Actor::System, &retailer_id, &name, app.clock.now()).await;
    let (retailer, added) = put.map_err(|e| match e {
        service::CoreError::Invalid(why) => ApiError::Validation(vec![FieldError {
            kind: "value_error",
            loc: vec![Loc::from("path"), Loc::from("retailer_id")],
            msg: format!("Value error, {why}"),
            input: Value::String(retailer_id.clone()),
            ctx: Some(json!({"error": why.to_string()})),
        }]),
        other => other.into(),
    })?;
    let status = if added { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(json!({"retailer_id": retailer.retailer_id, "name": retailer.name}))))
}

/// A reference as tessera makes them; anything else names no session.
fn reference(text: &str) -> Result<&str, ApiError> {
    let ok = text.len() == REFERENCE_PREFIX.len() + 43
        && text
            .strip_prefix(REFERENCE_PREFIX)
            .is_some_and(|r| r.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    if ok { Ok(text) } else { Err(ApiError::NotFound(SESSION_NOT_FOUND)) }
}

/// `GET /connector/link-sessions/{reference}`: the session at this connector's sign-in page
/// (any other connector's session is `404`, as an unknown one):
/// who signs in, for which client and retailer, and where to send the browser back.
pub(crate) async fn get_session(
    State(app): State<AppState>,
    connector: Connector,
    Path(text): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let reference = reference(&text)?;
    let found = app
        .core
        .link()
        .session_at_connector(&connector.id, reference, app.clock.now())
        .await?
        .ok_or(ApiError::NotFound(SESSION_NOT_FOUND))?;
    let s = &found.session;
    Ok(Json(json!({
        "session_id": s.id,
        "retailer_id": found.retailer.retailer_id,
        "retailer_name": found.retailer.name,
        "customer_id": s.customer_id,
        "email": s.email,
        "client_name": found.client.name,
        "connection_id": s.connection_id,
        "expires_at": rfc3339(s.expires_at),
        "return_url": found.return_url,
    })))
}

/// `POST /connector/link-sessions/{reference}/complete`: `{"outcome", "reason"?}` ends the
/// session (once): the connection is created and activated, re-activated or marked
/// unauthenticated, with its activity and webhook events, in one transaction.
pub(crate) async fn complete_session(
    State(app): State<AppState>,
    connector: Connector,
    Path(text): Path<String>,
    ApiBody(body): ApiBody,
) -> Result<Json<Value>, ApiError> {
    let (outcome, reason) = {
        let mut f = Fields::new(body_object(&body)?);
        let outcome = f.required_literal(&complete_link_session::OUTCOME);
        let reason = f.optional_str(&complete_link_session::REASON).flatten();
        f.finish((outcome, reason))?
    };
    let outcome = outcome.and_then(Outcome::parse).ok_or_else(|| ApiError::internal("unparsed outcome"))?;
    let reference = reference(&text)?;
    let done = app
        .core
        .link()
        .complete(&connector.id, reference, outcome, reason.as_deref(), app.clock.now())
        .await?
        .ok_or(ApiError::NotFound(SESSION_NOT_FOUND))?;
    let (session, connection, return_url) = done;
    Ok(Json(json!({
        "state": session.state.as_str(),
        "reason": session.reason,
        "connection": connection.map(ConnectionResponse::from),
        "return_url": return_url,
    })))
}
