//! Idempotent retries: `X-Subtotal-Idempotency-Key` (or `Idempotency-Key`) on a POST makes
//! a retry within 24 hours get the first answer again, not a second effect. Keys are per
//! client. The same key with a different request is refused; concurrent requests with one
//! key yield one result: the later ones wait for the first.
//!
//! A stored answer can hold a live token, so it is sealed under the key-encryption key
//! before it is written (bound to its client and key), and a replay re-checks what the first
//! answer depended on before giving it again.
use std::future::Future;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use axum::Json;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use super::error::ApiError;
use super::extract::Caller;
use super::validation::{FieldError, Loc, RawBody};
use crate::service::AppState;
use crate::storage::{IdempotencyState, cause};

/// How long a key keeps its answer.
pub(crate) const TTL_SECS: i64 = 24 * 3600;
/// How long an unfinished request holds its key before it counts as abandoned.
const LEASE_SECS: i64 = 60;
/// How long a concurrent request waits for the first to finish.
const WAIT: Duration = Duration::from_secs(10);
const MAX_KEY_LEN: usize = 255;

/// An idempotency key as the client sent it: 1 to 255 characters, trimmed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct IdempotencyKey(String);

impl IdempotencyKey {
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }

    /// This key for a request to `route` with `body`.
    pub(crate) fn retry(self, route: &str, body: &RawBody) -> Retry {
        Retry { fingerprint: fingerprint(route, body), key: self }
    }
}

/// A request that may be a retry: its key, and what makes two requests "the same".
pub(crate) struct Retry {
    key: IdempotencyKey,
    fingerprint: String,
}

/// The idempotency key a request carries, if any.
pub(crate) fn key(headers: &HeaderMap) -> Result<Option<IdempotencyKey>, ApiError> {
    let Some((name, value)) =
        ["x-subtotal-idempotency-key", "idempotency-key"].iter().find_map(|n| headers.get(*n).map(|v| (*n, v)))
    else {
        return Ok(None);
    };
    let text = String::from_utf8_lossy(value.as_bytes()).trim().to_owned();
    if text.is_empty() || text.chars().count() > MAX_KEY_LEN {
        return Err(ApiError::Validation(vec![FieldError {
            kind: if text.is_empty() { "string_too_short" } else { "string_too_long" },
            loc: vec![Loc::from("header"), Loc::from(name)],
            msg: if text.is_empty() {
                "String should have at least 1 character".into()
            } else {
                format!("String should have at most {MAX_KEY_LEN} characters")
            },
            input: Value::String(text),
            ctx: Some(if value.is_empty() {
                serde_json::json!({"min_length": 1})
            } else {
                serde_json::json!({"max_length": MAX_KEY_LEN})
            }),
        }]));
    }
    Ok(Some(IdempotencyKey(text)))
}

/// What makes two requests "the same": the route and the body's meaning.
fn fingerprint(route: &str, body: &RawBody) -> String {
    let canonical = match body {
        RawBody::Missing => String::new(),
        RawBody::Json(v) => format!("json:{v}"),
        RawBody::Text(t) => format!("text:{t}"),
    };
    let digest = Sha256::digest(format!("{route}\n{canonical}").as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Runs `handler` once per idempotency key; retries get the stored answer, once `replay`
/// has accepted it (it answers the error a fresh request would get when what the first
/// answer depended on has changed since).
pub(crate) async fn once<F, R>(
    app: &AppState,
    caller: &Caller,
    retry: Option<Retry>,
    handler: F,
    replay: R,
) -> Result<Response, ApiError>
where
    F: Future<Output = Result<(StatusCode, Value), ApiError>>,
    R: AsyncFnOnce(StatusCode, &Value) -> Result<(), ApiError>,
{
    let Some(Retry { key, fingerprint }) = retry else {
        let (status, body) = handler.await?;
        return Ok((status, Json(body)).into_response());
    };
    let key = key.as_str();
    let started = tokio::time::Instant::now();
    loop {
        let now = app.clock.now();
        let state =
            app.core.idempotency().begin(&caller.client_id, key, &fingerprint, now, LEASE_SECS, TTL_SECS).await?;
        match state {
            IdempotencyState::Claimed => break,
            IdempotencyState::Done { status, body } => {
                let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
                let body = open(app, caller, key, &body)?;
                replay(status, &body).await?;
                return Ok((status, Json(body)).into_response());
            }
            IdempotencyState::Mismatch => {
                return Err(ApiError::Conflict(
                    "Idempotency key already used for a different request: use a new key for a new request".into(),
                ));
            }
            IdempotencyState::InProgress if started.elapsed() < WAIT => {
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
            IdempotencyState::InProgress => {
                return Err(ApiError::Conflict(
                    "A request with this idempotency key is still in progress: retry shortly".into(),
                ));
            }
        }
    }
    match handler.await {
        Ok((status, body)) => {
            let sealed = seal(app, caller, key, &body);
            app.core.idempotency().finish(&caller.client_id, key, status.as_u16(), &sealed).await?;
            Ok((status, Json(body)).into_response())
        }
        Err(e) => {
            // A failed request leaves nothing behind: a retry runs afresh.
            let _ = app.core.idempotency().release(&caller.client_id, key).await;
            Err(e)
        }
    }
}

/// What a sealed answer is bound to: it opens only for the same client and key.
fn binding(caller: &Caller, key: &str) -> Vec<u8> {
    format!("idempotency\n{}\n{key}", caller.client_id).into_bytes()
}

fn seal(app: &AppState, caller: &Caller, key: &str, body: &Value) -> String {
    STANDARD.encode(app.kek.seal(&binding(caller, key), body.to_string().as_bytes()))
}

fn open(app: &AppState, caller: &Caller, key: &str, stored: &str) -> Result<Value, ApiError> {
    let sealed = match STANDARD.decode(stored) {
        Ok(sealed) => sealed,
        // An answer kept unsealed by a replica of 0.1.0 beside this release during a rolling
        // upgrade (JSON is never base64): replayed as that release would, and pruned with
        // every other answer after 24 hours.
        Err(e) => return serde_json::from_str::<Value>(stored).map_err(|_| ApiError::Internal(cause(e))),
    };
    let plain = app
        .kek
        .open(&binding(caller, key), &sealed)
        .map_err(|_| ApiError::internal("a stored idempotent answer does not open under this key-encryption key"))?;
    serde_json::from_slice(&plain).map_err(|e| ApiError::Internal(cause(e)))
}

/// A replay that depends on nothing that can change.
pub(crate) async fn always(_: StatusCode, _: &Value) -> Result<(), ApiError> {
    Ok(())
}
