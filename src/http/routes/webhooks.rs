//! `/webhooks`: a client's endpoints for events about its connections, their signing
//! secrets, and each endpoint's delivery log. Another client's webhook is answered exactly
//! like a missing one.
use axum::Json;
use axum::extract::{FromRequestParts, Path, RawQuery, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::Serialize;
use serde_json::{Value, json};

use crate::domain::ids::{EventId, WebhookId};
use crate::domain::webhook::{Delivery, EventType, Webhook, WebhookPatch};
use crate::http::error::ApiError;
use crate::http::extract::Caller;
use crate::http::json::ApiBody;
use crate::http::models::{create_webhook, update_webhook};
use crate::http::validation::{FieldError, Fields, Loc, RawBody, body_object};
use crate::service::webhooks::NewWebhook;
use crate::service::{Actor, AppState};
use crate::webhooks::destination;

/// A webhook as its client sees it: never its secret.
#[derive(Serialize)]
pub(crate) struct WebhookResponse {
    pub webhook_id: WebhookId,
    pub name: String,
    pub url: String,
    pub event_types: Vec<EventType>,
    pub is_active: bool,
    pub created_at: i64,
    pub updated_at: i64,
    /// Why tessera turned the endpoint off, if it did.
    pub disabled_reason: Option<String>,
}

impl From<Webhook> for WebhookResponse {
    fn from(w: Webhook) -> Self {
        Self {
            webhook_id: w.id,
            name: w.name,
            url: w.url,
            event_types: w.event_types,
            is_active: w.is_active,
            created_at: w.created_at,
            updated_at: w.updated_at,
            disabled_reason: w.disabled_reason,
        }
    }
}

/// The `{webhook_id}` path segment, as an id tessera could have made.
pub(crate) struct WebhookPath(pub WebhookId);

impl<S: Send + Sync> FromRequestParts<S> for WebhookPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(params) = Path::<Vec<(String, String)>>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::WebhookNotFound)?;
        let id = params.into_iter().find(|(k, _)| k == "webhook_id").map(|(_, v)| WebhookId::from_string(v));
        id.filter(WebhookId::is_well_formed).map(WebhookPath).ok_or(ApiError::WebhookNotFound)
    }
}

fn event_types(names: &[&str]) -> Vec<EventType> {
    let mut types: Vec<EventType> = names.iter().filter_map(|n| EventType::parse(n)).collect();
    types.sort();
    types.dedup();
    types
}

/// A destination the operator's policy allows, checked as registered (the address is checked
/// again on every delivery). Refusals are `422`s on the `url` field.
async fn checked_url(app: &AppState, url: &str) -> Result<String, ApiError> {
    let refuse = |why: String| {
        ApiError::Validation(vec![FieldError {
            kind: "value_error",
            loc: vec![Loc::from("body"), Loc::from("url")],
            msg: format!("Value error, {why}"),
            input: Value::String(url.to_owned()),
            ctx: None,
        }])
    };
    let parsed = destination::check_url(url, app.webhook_policy).map_err(refuse)?;
    destination::check_resolved(&parsed, app.webhook_policy).await.map_err(refuse)?;
    Ok(url.to_owned())
}

pub(crate) async fn create_webhook(
    State(app): State<AppState>,
    caller: Caller,
    ApiBody(body): ApiBody,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let (name, url, types, is_active) = {
        let mut f = Fields::new(body_object(&body)?);
        let name = f.required_str(&create_webhook::NAME);
        let url = f.required_str(&create_webhook::URL);
        let types = f.required_literal_list(&create_webhook::EVENT_TYPES);
        let is_active = f.optional_bool(&create_webhook::IS_ACTIVE).unwrap_or(false);
        f.finish((name, url, types, is_active))?
    };
    let url = checked_url(&app, &url).await?;
    let new = NewWebhook { name, url, event_types: event_types(&types), is_active };
    let (webhook, secret) = app.core.webhooks().create(&caller.client_id, new, app.clock.now()).await?;
    let mut answer = serde_json::to_value(WebhookResponse::from(webhook))
        .map_err(|e| ApiError::Internal(crate::storage::cause(e)))?;
    // Shown this once: only its sealed form is kept.
    answer["signing_secret"] = json!(secret.as_str());
    Ok((StatusCode::CREATED, Json(answer)))
}

pub(crate) async fn list_webhooks(State(app): State<AppState>, caller: Caller) -> Result<Json<Value>, ApiError> {
    let webhooks: Vec<WebhookResponse> =
        app.core.webhooks().list(&caller.client_id).await?.into_iter().map(Into::into).collect();
    Ok(Json(json!({ "webhooks": webhooks })))
}

pub(crate) async fn get_webhook(
    State(app): State<AppState>,
    caller: Caller,
    WebhookPath(id): WebhookPath,
) -> Result<Json<WebhookResponse>, ApiError> {
    let webhook = app.core.webhooks().find(&caller.client_id, &id).await?.ok_or(ApiError::WebhookNotFound)?;
    Ok(Json(webhook.into()))
}

/// `UpdateWebhook`, validated (its url not yet checked against the policy).
fn parse_update(body: &RawBody) -> Result<WebhookPatch, ApiError> {
    let mut f = Fields::new(body_object(body)?);
    let name = f.optional_str(&update_webhook::NAME).flatten();
    let url = f.optional_str(&update_webhook::URL).flatten();
    let types = f.optional_literal_list(&update_webhook::EVENT_TYPES);
    let is_active = f.optional_bool(&update_webhook::IS_ACTIVE);
    Ok(f.finish(WebhookPatch { name, url, event_types: types.as_deref().map(event_types), is_active })?)
}

pub(crate) async fn update_webhook(
    State(app): State<AppState>,
    caller: Caller,
    path: Result<WebhookPath, ApiError>,
    ApiBody(body): ApiBody,
) -> Result<Json<WebhookResponse>, ApiError> {
    let mut patch = parse_update(&body)?;
    let WebhookPath(id) = path?;
    if let Some(url) = &patch.url {
        patch.url = Some(checked_url(&app, url).await?);
    }
    let updated = app
        .core
        .webhooks()
        .update(&caller.client_id, &id, &patch, app.clock.now())
        .await?
        .ok_or(ApiError::WebhookNotFound)?;
    Ok(Json(updated.into()))
}

pub(crate) async fn delete_webhook(
    State(app): State<AppState>,
    caller: Caller,
    WebhookPath(id): WebhookPath,
) -> Result<StatusCode, ApiError> {
    if app.core.webhooks().delete(&caller.client_id, &id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::WebhookNotFound)
    }
}

/// A new signing secret, shown once; the one it replaces keeps signing beside it for 24 hours,
/// so receivers can switch without missing a delivery.
pub(crate) async fn rotate_secret(
    State(app): State<AppState>,
    caller: Caller,
    WebhookPath(id): WebhookPath,
) -> Result<Json<Value>, ApiError> {
    let (secret, expires) = app
        .core
        .webhooks()
        .rotate_secret(&caller.client_id, &id, app.clock.now())
        .await?
        .ok_or(ApiError::WebhookNotFound)?;
    Ok(Json(json!({"webhook_id": id, "signing_secret": secret.as_str(), "previous_secret_expires_at": expires})))
}

/// The delivery log, newest event first (`limit`, `starting_after`).
pub(crate) async fn deliveries(
    State(app): State<AppState>,
    caller: Caller,
    WebhookPath(id): WebhookPath,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let params = crate::http::query::QueryParams::parse(query);
    let last = |name: &str| params.last(name);
    // Pages of deliveries as of activity events: 20 by default, at most 100.
    let limit = params.limit("limit", 20, 100)?;
    let cursor = last("starting_after").map(EventId::from_string).filter(EventId::is_well_formed);
    app.core.webhooks().find(&caller.client_id, &id).await?.ok_or(ApiError::WebhookNotFound)?;
    let mut found: Vec<Delivery> =
        app.core.webhooks().deliveries(&caller.client_id, &id, cursor.as_ref(), limit + 1).await?;
    let has_more = found.len() > limit as usize;
    found.truncate(limit as usize);
    let next = if has_more { found.last().map(|d| d.event_id.clone()) } else { None };
    Ok(Json(json!({ "deliveries": found, "has_more": has_more, "next_cursor": next })))
}

/// `POST /webhooks/{webhook_id}/deliveries/{event_id}/redeliver`: the event is sent again,
/// with its original id.
pub(crate) async fn redeliver(
    State(app): State<AppState>,
    caller: Caller,
    WebhookPath(id): WebhookPath,
    Path(params): Path<Vec<(String, String)>>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let event = params
        .into_iter()
        .find(|(k, _)| k == "event_id")
        .map(|(_, v)| EventId::from_string(v))
        .filter(EventId::is_well_formed)
        .ok_or(ApiError::NotFound("Delivery not found"))?;
    let actor = Actor::ApiKey(&caller.api_key_id);
    if !app.core.webhooks().redeliver(actor, &caller.client_id, &id, &event, app.clock.now()).await? {
        return Err(ApiError::NotFound("Delivery not found"));
    }
    Ok((StatusCode::ACCEPTED, Json(json!({"webhook_id": id, "event_id": event, "status": "scheduled"}))))
}
