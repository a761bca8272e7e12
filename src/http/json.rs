//! Reading request bodies the way the reference stack does: JSON only when the content type
//! says JSON, otherwise an opaque string that fails model validation; every failure becomes
//! an [`ApiError`], never axum's own plain-text rejections.
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header::CONTENT_TYPE;

use super::error::ApiError;
use super::pyjson::{self, JsonError};
use super::validation::{FieldError, RawBody};
use crate::service::AppState;

/// The largest body accepted, in bytes.
pub(crate) const MAX_BODY_BYTES: usize = 64 * 1024;

/// A request body, read and classified but not yet validated against a model.
pub(crate) struct ApiBody(pub RawBody);

impl FromRequest<AppState> for ApiBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let is_json = req.headers().get(CONTENT_TYPE).is_some_and(|v| is_json_content_type(v.as_bytes()));
        let bytes = read_body(req, state).await?;
        Ok(ApiBody(classify(&bytes, is_json)?))
    }
}

/// A body that may also be sent as an HTML form (`application/x-www-form-urlencoded`), as
/// OAuth-style endpoints accept: form fields become a JSON object of strings.
pub(crate) struct FormOrJson(pub RawBody);

impl FromRequest<AppState> for FormOrJson {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let ctype = req.headers().get(CONTENT_TYPE).map(|v| v.as_bytes().to_vec()).unwrap_or_default();
        let is_form = String::from_utf8_lossy(&ctype)
            .split(';')
            .next()
            .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"));
        let bytes = read_body(req, state).await?;
        if is_form {
            let fields: serde_json::Map<String, serde_json::Value> = url::form_urlencoded::parse(&bytes)
                .map(|(k, v)| (k.into_owned(), serde_json::Value::String(v.into_owned())))
                .collect();
            return Ok(FormOrJson(RawBody::Json(serde_json::Value::Object(fields))));
        }
        Ok(FormOrJson(classify(&bytes, is_json_content_type(&ctype))?))
    }
}

/// Reads the whole body, within the size limit and the body timeout: a client that trickles
/// its body is cut off instead of holding a task forever.
async fn read_body(req: Request, state: &AppState) -> Result<Bytes, ApiError> {
    tokio::time::timeout(state.body_timeout, Bytes::from_request(req, state))
        .await
        .map_err(|_| ApiError::RequestTimeout(state.body_timeout.as_secs()))?
        .map_err(|rejection| {
            if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge(MAX_BODY_BYTES)
            } else {
                ApiError::BadBody
            }
        })
}

/// Turns body bytes into what the validator sees.
pub(crate) fn classify(bytes: &[u8], is_json: bool) -> Result<RawBody, ApiError> {
    if bytes.is_empty() {
        return Ok(RawBody::Missing);
    }
    if !is_json {
        return Ok(RawBody::Text(String::from_utf8_lossy(bytes).into_owned()));
    }
    match pyjson::parse(bytes) {
        Ok(v) => Ok(RawBody::Json(v)),
        Err(JsonError::Undecodable) => Err(ApiError::BadBody),
        Err(JsonError::Syntax { msg, pos }) => Err(ApiError::Validation(vec![FieldError::json_invalid(pos, msg)])),
    }
}

/// Whether a `Content-Type` value means JSON, by the rules of Python's `email.message`:
/// the part before `;`, trimmed and lower-cased, must be `application/json` or
/// `application/<anything>+json`.
pub(crate) fn is_json_content_type(raw: &[u8]) -> bool {
    // Header bytes are read as Latin-1, as the reference stack's server does.
    let value: String = raw.iter().map(|&b| b as char).collect();
    let ctype = value.split(';').next().unwrap_or("").trim().to_lowercase();
    if ctype.matches('/').count() != 1 {
        return false;
    }
    match ctype.split_once('/') {
        Some(("application", sub)) => sub == "json" || sub.ends_with("+json"),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types() {
        for yes in [
            "application/json",
            "APPLICATION/JSON",
            "application/json; charset=utf-8",
            "application/json ; x=1",
            "application/vnd.api+json",
        ] {
            assert!(is_json_content_type(yes.as_bytes()), "{yes}");
        }
        for no in ["", "text/json", "text/plain", "application/jsonx", ";;;", "application/json/x", "json"] {
            assert!(!is_json_content_type(no.as_bytes()), "{no}");
        }
    }
}
