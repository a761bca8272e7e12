//! `ApiError`: every way a request can fail, as a status and a FastAPI-shaped body.
use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::validation::FieldError;
use crate::storage::{Cause, StoreError, cause};
use crate::telemetry::Chain;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 422 with the list of validation failures.
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    /// 400: the body is not text in any encoding JSON allows.
    #[error("There was an error parsing the body")]
    BadBody,
    /// 400: text the database cannot store (a NUL character).
    #[error("Text must not contain NUL characters")]
    InvalidText,
    #[error("Request body too large: the limit is {0} bytes")]
    PayloadTooLarge(usize),
    /// 401; the message says which of missing or invalid.
    #[error("{0}")]
    Unauthorized(&'static str),
    /// 403 for a partner app's token without the scope the route needs (named in the
    /// `WWW-Authenticate` challenge, RFC 6750 section 3.1).
    #[error("insufficient_scope")]
    InsufficientScope(&'static str),
    /// 403 with a sentence: the caller is known, but may not do this.
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("{0}")]
    NotFound(&'static str),
    /// 404 for a connection that does not exist, belongs to another client, or could not exist.
    #[error("Connection not found")]
    ConnectionNotFound,
    /// 404 for a webhook that does not exist, belongs to another client, or could not exist.
    #[error("Webhook not found")]
    WebhookNotFound,
    /// 404 naming what was not found.
    #[error("{0}")]
    Missing(String),
    /// 422 with a sentence: the input is well-formed but not acceptable.
    #[error("{0}")]
    Unprocessable(String),
    #[error("{0}")]
    Conflict(String),
    #[error("Request headers too large: the limit is {0} bytes")]
    HeadersTooLarge(usize),
    /// 429, with the bucket's size and when to retry.
    #[error("Rate limit exceeded: retry in {retry_after_secs} seconds")]
    RateLimited { retry_after_secs: u64, limit: u32 },
    /// 429: this address has as many request bodies unfinished as it may have; retry once
    /// one has ended (within the body deadline, in seconds).
    #[error("Too many unfinished request bodies from this address: retry in {0} seconds")]
    TooManyUnfinishedBodies(u64),
    /// 408: the body did not arrive in time.
    #[error("Request body not received within {0} seconds")]
    RequestTimeout(u64),
    #[error("Method Not Allowed")]
    MethodNotAllowed,
    /// 503: the database cannot be reached; retry later.
    #[error("Service unavailable: the database cannot be reached, retry later")]
    Unavailable,
    /// 503: the authorization server that issued a partner token cannot be reached.
    #[error(
        "Service unavailable: the authorization server that issued this access token cannot be reached, retry later"
    )]
    IssuerUnavailable,
    /// 503: the clock disagrees with the database's, so a token signed now would not verify.
    #[error("Service unavailable: {0}; retry once the clock is right")]
    ClockUntrusted(String),
    /// 503: the database's disk is full; nothing was written.
    #[error("Service unavailable: the database's disk is full, retry once space has been freed")]
    DiskFull,
    /// 500: the cause is logged (with its chain), never sent.
    #[error("Internal Server Error")]
    Internal(#[source] Cause),
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::BadBody | ApiError::InvalidText => StatusCode::BAD_REQUEST,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::InsufficientScope(_) | ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) | ApiError::ConnectionNotFound | ApiError::WebhookNotFound | ApiError::Missing(_) => {
                StatusCode::NOT_FOUND
            }
            ApiError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::RateLimited { .. } | ApiError::TooManyUnfinishedBodies(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::HeadersTooLarge(_) => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Unavailable | ApiError::DiskFull | ApiError::ClockUntrusted(_) | ApiError::IssuerUnavailable => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl ApiError {
    /// A 500 for a cause that is only a message.
    pub fn internal(message: impl Into<String>) -> Self {
        ApiError::Internal(crate::storage::cause_msg(message))
    }
}

impl From<Vec<FieldError>> for ApiError {
    fn from(errors: Vec<FieldError>) -> Self {
        ApiError::Validation(errors)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(_) => ApiError::Unavailable,
            StoreError::DiskFull(_) => ApiError::DiskFull,
            StoreError::InvalidText => ApiError::InvalidText,
            other => ApiError::Internal(cause(other)),
        }
    }
}

/// A use case's refusal: `422` or `404` with its sentence; storage failures as they map.
impl From<crate::service::CoreError> for ApiError {
    fn from(e: crate::service::CoreError) -> Self {
        match e {
            crate::service::CoreError::Store(e) => e.into(),
            crate::service::CoreError::Invalid(why) => ApiError::Unprocessable(why.to_string()),
            crate::service::CoreError::NotFound(what) => ApiError::Missing(what.to_string()),
            crate::service::CoreError::Lifecycle { from, to } => lifecycle_refusal(from, to),
            e @ (crate::service::CoreError::NotServing | crate::service::CoreError::Kek(_)) => {
                ApiError::Internal(crate::storage::cause(e))
            }
        }
    }
}

/// `409`: the connection lifecycle does not allow a move; the answer names the moves it does.
pub(crate) fn lifecycle_refusal(
    from: crate::domain::connection::ConnectionStatus,
    to: crate::domain::connection::ConnectionStatus,
) -> ApiError {
    use crate::domain::connection::ConnectionStatus;
    let moves: Vec<String> = ConnectionStatus::ALL
        .iter()
        .flat_map(|a| ConnectionStatus::ALL.iter().filter(|b| a.can_move_to(**b)).map(move |b| format!("{a} -> {b}")))
        .collect();
    ApiError::Conflict(format!(
        "A connection cannot move from {from} to {to}: the lifecycle allows {}",
        moves.join(", ")
    ))
}

/// A use case's answer, with its refusal ([`crate::service::CoreError::Invalid`]) put on the
/// body field `field` as FastAPI would.
pub(crate) fn refusal_on<T>(
    result: Result<T, crate::service::CoreError>,
    field: &str,
    input: &str,
) -> Result<T, ApiError> {
    result.map_err(|e| match e {
        crate::service::CoreError::Invalid(why) => {
            ApiError::Validation(vec![super::validation::value_error(field, input, why)])
        }
        other => other.into(),
    })
}

impl From<crate::token::mint::MintError> for ApiError {
    fn from(e: crate::token::mint::MintError) -> Self {
        match e {
            crate::token::mint::MintError::Store(e) => e.into(),
            crate::token::mint::MintError::Clock(why) => ApiError::ClockUntrusted(why.0),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = match &self {
            ApiError::Validation(errors) => json!({ "detail": errors }),
            ApiError::Internal(cause) => {
                tracing::error!(cause = %Chain(cause.as_ref()), "request failed");
                json!({ "detail": self.to_string() })
            }
            ApiError::Unavailable => {
                tracing::warn!("database unavailable");
                json!({ "detail": self.to_string() })
            }
            ApiError::DiskFull => {
                tracing::warn!("the database's disk is full");
                json!({ "detail": self.to_string() })
            }
            other => json!({ "detail": other.to_string() }),
        };
        let mut resp = (status, Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let ApiError::InsufficientScope(scope) = self
            && let Ok(v) = HeaderValue::from_str(&format!("Bearer error=\"insufficient_scope\", scope=\"{scope}\""))
        {
            resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
        }
        if let ApiError::RateLimited { retry_after_secs, limit } = self {
            let h = resp.headers_mut();
            h.insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
            h.insert("ratelimit-limit", HeaderValue::from(limit));
            h.insert("ratelimit-remaining", HeaderValue::from(0));
            h.insert("ratelimit-reset", HeaderValue::from(retry_after_secs));
        }
        if let ApiError::TooManyUnfinishedBodies(retry_after_secs) = self {
            resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
        }
        if status == StatusCode::SERVICE_UNAVAILABLE {
            resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        resp
    }
}
