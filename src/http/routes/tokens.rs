//! `POST /connections/{connection_id}/token`: the seed endpoint.
use axum::extract::State;
use axum::http::HeaderMap;
use axum::http::StatusCode;
use axum::response::Response;
use base64::Engine as _;
use serde_json::{Value, json};

use crate::domain::ids::{ConnectionId, TokenId};
use crate::http::error::ApiError;
use crate::http::extract::{CachedCaller, Caller, ConnectionPath, INVALID};
use crate::http::idempotency;
use crate::http::json::ApiBody;
use crate::http::models::create_token;
use crate::http::validation::{FieldError, Fields, RawBody, body_object};
use crate::service::AppState;
use crate::service::tokens::{NotIssued, NotReplayable};

/// `CreateTokenRequest`: `{"scope": "access"}`.
fn parse_request(body: &RawBody) -> Result<(), Vec<FieldError>> {
    let mut f = Fields::new(body_object(body)?);
    f.required_literal(&create_token::SCOPE);
    f.finish(())
}

/// Authentication (the `Caller` extractor) runs first, then body validation, then the
/// connection check: another client's connection is answered exactly like a missing one.
///
/// The hot path reads nothing before the issuance transaction: the key comes from the cache
/// and the connection is checked, with the key, inside the transaction that records the
/// token. Every answer that transaction does not guard re-checks a cached key first.
pub(crate) async fn create_connection_token(
    State(app): State<AppState>,
    CachedCaller(caller): CachedCaller,
    path: Result<ConnectionPath, ApiError>,
    headers: HeaderMap,
    body: Result<ApiBody, ApiError>,
) -> Result<Response, ApiError> {
    // As the reference stack answers: the body as JSON, the idempotency key, the body's
    // fields, and only then whether the connection exists (an id that cannot exist is
    // answered here exactly like an unknown one).
    let checked = body.and_then(|body| {
        let key = idempotency::key(&headers)?;
        parse_request(&body.0)?;
        Ok((path?.0, key, body.0))
    });
    let (id, key, body) = match checked {
        Ok(checked) => checked,
        Err(e) => return Err(confirmed(&app, &caller, e).await),
    };
    if key.is_some() {
        // A stored answer is replayed without a new issuance transaction.
        caller.confirm(&app).await?;
    }
    let retry = key.map(|k| k.retry(&format!("token {id}"), &body));
    idempotency::once(
        &app,
        &caller,
        retry,
        async {
            let Some(connection_token) = app.minter.mint(&caller.client_id, &id, &caller.api_key_id).await? else {
                return Err(refusal(&app, &caller, &id).await);
            };
            app.metrics.token_minted();
            Ok((StatusCode::CREATED, json!({ "connection_token": connection_token })))
        },
        async |status, answer| replayable(&app, &caller, &id, status, answer).await,
    )
    .await
}

/// Whether a stored answer may be given again (see [`crate::service::tokens::NotReplayable`]):
/// otherwise the retry gets what a fresh request would (`404`, `409`), or `409` for a token
/// that no longer holds.
async fn replayable(
    app: &AppState,
    caller: &Caller,
    id: &ConnectionId,
    status: StatusCode,
    answer: &Value,
) -> Result<(), ApiError> {
    if status != StatusCode::CREATED {
        return Ok(());
    }
    let jti = answer["connection_token"].as_str().and_then(jti_of).map(TokenId::from_string);
    app.core.tokens().replayable(&caller.client_id, id, jti.as_ref()).await?.map_err(|why| match why {
        NotReplayable::NoConnection => ApiError::ConnectionNotFound,
        NotReplayable::Disconnected => disconnected(),
        NotReplayable::Revoked => ApiError::Conflict(
            "The token this idempotency key was answered with has been revoked: use a new idempotency key".into(),
        ),
        NotReplayable::Expired => ApiError::Conflict(
            "The token this idempotency key was answered with has expired: use a new idempotency key".into(),
        ),
    })
}

/// The `jti` claim of one of tessera's own tokens (its signature was checked when it was
/// made; here it only names the record).
fn jti_of(token: &str) -> Option<String> {
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).ok()?;
    serde_json::from_slice::<Value>(&bytes).ok()?.get("jti")?.as_str().map(str::to_owned)
}

fn disconnected() -> ApiError {
    ApiError::Conflict("Connection is disconnected: a disconnected connection cannot be issued tokens".into())
}

/// `error`, unless a cached caller's key turns out to be revoked: then `401`. A body too
/// large or too slow is answered at once: nothing of the request was processed, and the
/// connection closes on a client that may still be sending.
async fn confirmed(app: &AppState, caller: &Caller, error: ApiError) -> ApiError {
    if matches!(error, ApiError::PayloadTooLarge(_) | ApiError::RequestTimeout(_)) {
        return error;
    }
    caller.confirm(app).await.err().unwrap_or(error)
}

/// Why the issuance transaction refused a token (see [`NotIssued`]), as the API answers it.
async fn refusal(app: &AppState, caller: &Caller, id: &ConnectionId) -> ApiError {
    match app.core.tokens().why_not_issued(&caller.client_id, &caller.api_key_id, id).await {
        Err(e) => e.into(),
        Ok(NotIssued::KeyNotLive) => {
            app.key_cache.remove(&caller.api_key_id);
            ApiError::Unauthorized(INVALID)
        }
        Ok(NotIssued::NoConnection) => ApiError::ConnectionNotFound,
        Ok(NotIssued::Disconnected) => disconnected(),
        Ok(NotIssued::TryAgain) => ApiError::Unavailable,
    }
}
