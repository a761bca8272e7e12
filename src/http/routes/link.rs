//! `/link-tokens` (as Subtotal documents them) and `/redirect-urls`: what a client uses to
//! send its customers through the hosted Link flow. A link token is a bearer secret: it is
//! answered once, kept as a digest, and its path is never logged (the log names the route
//! template only).
use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Serialize;
use serde_json::{Value, json};

use crate::domain::link::{LINK_TOKEN_LEN, LINK_TOKEN_PATTERN, LinkToken, LinkTokenStatus, RedirectUrl, is_link_token};
use crate::domain::time::rfc3339;
use crate::http::error::{ApiError, refusal_on};
use crate::http::extract::Caller;
use crate::http::idempotency;
use crate::http::json::ApiBody;
use crate::http::models::{add_redirect_url, create_link_token};
use crate::http::validation::{FieldError, Fields, Loc, body_object};
use crate::service::{Actor, AppState};
use crate::storage::cause;

/// A link token's metadata, as Subtotal answers it (`link_token` only when created).
#[derive(Serialize)]
pub(crate) struct LinkTokenResponse {
    pub customer_id: String,
    pub status: &'static str,
    pub created_at: String,
    pub expires_at: String,
    pub revoked_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub link_token: Option<String>,
}

impl LinkTokenResponse {
    fn of(t: &LinkToken, now: i64, link_token: Option<String>) -> Self {
        Self {
            customer_id: t.customer_id.clone(),
            status: t.status(now).as_str(),
            created_at: rfc3339(t.created_at),
            expires_at: rfc3339(t.expires_at),
            revoked_at: t.revoked_at.map(rfc3339),
            link_token,
        }
    }
}

/// `POST /link-tokens`: `201` with the token, shown this once. With
/// `X-Subtotal-Idempotency-Key`, a retry of the same request answers the same token.
pub(crate) async fn create(
    State(app): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    ApiBody(body): ApiBody,
) -> Result<Response, ApiError> {
    let key = idempotency::key(&headers)?;
    let (customer_id, email, days) = {
        let mut f = Fields::new(body_object(&body)?);
        let customer_id = f.required_str(&create_link_token::CUSTOMER_ID);
        let email = f.optional_str(&create_link_token::EMAIL).flatten();
        let days = f.optional_int(&create_link_token::EXPIRES_IN_DAYS);
        f.finish((customer_id, email, days))?
    };
    let retry = key.map(|k| k.retry("create link token", &body));
    idempotency::once(
        &app,
        &caller,
        retry,
        async {
            let now = app.clock.now();
            let (token, secret) =
                app.core.link().create_token(&caller.client_id, customer_id, email, days, now).await?;
            let answer = LinkTokenResponse::of(&token, now, Some(secret.expose().to_owned()));
            let body = serde_json::to_value(answer).map_err(|e| ApiError::Internal(cause(e)))?;
            Ok((StatusCode::CREATED, body))
        },
        idempotency::always,
    )
    .await
}

/// The last value of query parameter `name`, as FastAPI reads a repeated one.
fn query_param(query: &str, name: &str) -> Option<String> {
    url::form_urlencoded::parse(query.as_bytes()).filter(|(k, _)| k == name).last().map(|(_, v)| v.into_owned())
}

/// `GET /link-tokens?customer_id=...&status=...`: metadata only, never a token.
pub(crate) async fn list(
    State(app): State<AppState>,
    caller: Caller,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let query = query.unwrap_or_default();
    let mut errors = Vec::new();
    let customer_id = query_param(&query, "customer_id");
    match &customer_id {
        None => errors.push(FieldError::missing(vec![Loc::from("query"), Loc::from("customer_id")], Value::Null)),
        Some(c) if c.is_empty() => errors.push(FieldError {
            kind: "string_too_short",
            loc: vec![Loc::from("query"), Loc::from("customer_id")],
            msg: "String should have at least 1 character".into(),
            input: json!(c),
            ctx: Some(json!({"min_length": 1})),
        }),
        Some(_) => {}
    }
    let status = match query_param(&query, "status") {
        None => None,
        Some(s) => match LinkTokenStatus::parse(&s) {
            Some(st) => Some(st),
            None => {
                errors.push(FieldError {
                    kind: "literal_error",
                    loc: vec![Loc::from("query"), Loc::from("status")],
                    msg: "Input should be 'active', 'expired' or 'revoked'".into(),
                    input: json!(s),
                    ctx: Some(json!({"expected": "'active', 'expired' or 'revoked'"})),
                });
                None
            }
        },
    };
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let customer_id = customer_id.unwrap_or_default();
    let now = app.clock.now();
    let tokens = app.core.link().list_tokens(&caller.client_id, &customer_id, status, now).await?;
    let tokens: Vec<LinkTokenResponse> = tokens.iter().map(|t| LinkTokenResponse::of(t, now, None)).collect();
    Ok(Json(json!({ "link_tokens": tokens })))
}

/// `{link_token}` validated as FastAPI validates a constrained path parameter: length first,
/// then the pattern.
fn link_token_path(token: &str) -> Result<(), ApiError> {
    let loc = vec![Loc::from("path"), Loc::from("link_token")];
    let len = token.chars().count();
    let error = if len < LINK_TOKEN_LEN {
        Some((
            "string_too_short",
            format!("String should have at least {LINK_TOKEN_LEN} characters"),
            json!({"min_length": LINK_TOKEN_LEN}),
        ))
    } else if len > LINK_TOKEN_LEN {
        Some((
            "string_too_long",
            format!("String should have at most {LINK_TOKEN_LEN} characters"),
            json!({"max_length": LINK_TOKEN_LEN}),
        ))
    } else if !is_link_token(token) {
        Some((
            "string_pattern_mismatch",
            format!("String should match pattern '{LINK_TOKEN_PATTERN}'"),
            json!({"pattern": LINK_TOKEN_PATTERN}),
        ))
    } else {
        None
    };
    match error {
        None => Ok(()),
        Some((kind, msg, ctx)) => {
            Err(ApiError::Validation(vec![FieldError { kind, loc, msg, input: json!(token), ctx: Some(ctx) }]))
        }
    }
}

/// `DELETE /link-tokens/{link_token}`: `204` for the caller's token in any state (revoking
/// stops new Link sessions; it disconnects nothing), `404` for any other.
pub(crate) async fn revoke(
    State(app): State<AppState>,
    caller: Caller,
    Path(token): Path<String>,
) -> Result<StatusCode, ApiError> {
    link_token_path(&token)?;
    app.core.link().revoke_token(&caller.client_id, &token, app.clock.now()).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize)]
pub(crate) struct RedirectUrlResponse {
    pub url: String,
    pub created_at: String,
}

impl From<RedirectUrl> for RedirectUrlResponse {
    fn from(r: RedirectUrl) -> Self {
        Self { url: r.url, created_at: rfc3339(r.created_at) }
    }
}

/// `POST /redirect-urls`: `201` when registered now, `200` when it already was.
pub(crate) async fn add_redirect(
    State(app): State<AppState>,
    caller: Caller,
    ApiBody(body): ApiBody,
) -> Result<(StatusCode, Json<RedirectUrlResponse>), ApiError> {
    let url = {
        let mut f = Fields::new(body_object(&body)?);
        let url = f.required_str(&add_redirect_url::URL);
        f.finish(url)?
    };
    let added = app
        .core
        .link()
        .add_redirect_url(Actor::ApiKey(&caller.api_key_id), &caller.client_id, &url, app.clock.now())
        .await;
    let (entry, added) = refusal_on(added, "url", &url)?;
    Ok((if added { StatusCode::CREATED } else { StatusCode::OK }, Json(entry.into())))
}

/// `GET /redirect-urls`.
pub(crate) async fn list_redirects(State(app): State<AppState>, caller: Caller) -> Result<Json<Value>, ApiError> {
    let urls = app.core.link().list_redirect_urls(&caller.client_id).await?;
    let urls: Vec<RedirectUrlResponse> = urls.into_iter().map(Into::into).collect();
    Ok(Json(json!({ "redirect_urls": urls })))
}

/// `DELETE /redirect-urls?url=...`: `204`, or `404` when it was not registered.
pub(crate) async fn remove_redirect(
    State(app): State<AppState>,
    caller: Caller,
    RawQuery(query): RawQuery,
) -> Result<StatusCode, ApiError> {
    let url = query_param(&query.unwrap_or_default(), "url")
        .ok_or_else(|| vec![FieldError::missing(vec![Loc::from("query"), Loc::from("url")], Value::Null)])?;
    app.core
        .link()
        .remove_redirect_url(Actor::ApiKey(&caller.api_key_id), &caller.client_id, &url, app.clock.now())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
