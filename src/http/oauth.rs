//! OAuth client authentication (RFC 6749, section 2.3.1) and OAuth's error answers (section
//! 5.2), for the two endpoints a stock OAuth client calls: introspection and revocation.
//!
//! A tessera client authenticates as an OAuth client with its client id and one of its API
//! keys as the secret: `Authorization: Basic` (`client_secret_basic`, the default of most
//! OAuth libraries) or `client_id` and `client_secret` in the body (`client_secret_post`).
//! The API-key forms every other route takes (`X-Api-Key`, `Authorization: Bearer <key>`)
//! work too.
use std::net::IpAddr;

use axum::Json;
use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::{Value, json};

use super::error::ApiError;
use super::extract::{Caller, admit, admit_key, peer_of, presented_key};
use super::validation::{FieldError, Loc, RawBody};
use crate::service::AppState;

/// The client authentication methods tessera accepts, by their RFC 8414 names.
pub(crate) const AUTH_METHODS: [&str; 2] = ["client_secret_basic", "client_secret_post"];

const MISSING: &str = "Not authenticated: send your client id and an API key as the client secret (HTTP Basic, \
                       or client_id and client_secret in the body), or an API key in the X-Api-Key header";
const INVALID: &str = "Invalid client credentials";
const TWO_METHODS: &str = "More than one client authentication method in one request";

/// An error of an OAuth endpoint, in RFC 6749's form: `{"error", "error_description"}` (and
/// the same sentence as `detail`, as every other tessera error has it).
#[derive(Debug)]
pub(crate) enum OAuthError {
    /// `401 invalid_client`, challenged with Basic (OAuth client authentication, RFC 6749,
    /// section 5.2) unless the client tried a bearer token (`basic: false`).
    InvalidClient { description: String, basic: bool },
    /// `400 invalid_request`: a missing or malformed parameter.
    InvalidRequest(String),
    /// Anything that is no OAuth error (a 413, 429 or 503), answered as tessera answers it.
    Other(ApiError),
}

impl OAuthError {
    fn invalid_client(description: &str, basic: bool) -> Self {
        OAuthError::InvalidClient { description: description.to_owned(), basic }
    }
}

/// The sentence an OAuth error gives for a validation failure: the first failure's message,
/// after the field it is about (`token: Field required`), or `body` for the body as a whole.
pub(crate) fn describe(errors: &[FieldError]) -> String {
    let Some(first) = errors.first() else { return "Invalid request".into() };
    match first.loc.get(1) {
        Some(Loc::Key(field)) => format!("{field}: {}", first.msg),
        _ => format!("body: {}", first.msg),
    }
}

impl From<ApiError> for OAuthError {
    fn from(e: ApiError) -> Self {
        match e {
            ApiError::Unauthorized(why) => OAuthError::invalid_client(why, true),
            ApiError::Validation(errors) => OAuthError::InvalidRequest(describe(&errors)),
            e @ (ApiError::BadBody | ApiError::InvalidText) => OAuthError::InvalidRequest(e.to_string()),
            other => OAuthError::Other(other),
        }
    }
}

impl From<Vec<FieldError>> for OAuthError {
    fn from(errors: Vec<FieldError>) -> Self {
        OAuthError::InvalidRequest(describe(&errors))
    }
}

impl From<crate::service::CoreError> for OAuthError {
    fn from(e: crate::service::CoreError) -> Self {
        OAuthError::from(ApiError::from(e))
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let (status, error, description, challenge) = match self {
            OAuthError::Other(e) => return e.into_response(),
            OAuthError::InvalidClient { description, basic } => {
                (StatusCode::UNAUTHORIZED, "invalid_client", description, Some(if basic { BASIC } else { "Bearer" }))
            }
            OAuthError::InvalidRequest(description) => (StatusCode::BAD_REQUEST, "invalid_request", description, None),
        };
        let body = json!({"error": error, "error_description": description, "detail": description});
        let mut resp = (status, Json(body)).into_response();
        let h = resp.headers_mut();
        if let Some(challenge) = challenge {
            h.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
        }
        // RFC 6749, section 5.1, for every answer of these endpoints.
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        resp
    }
}

const BASIC: &str = "Basic realm=\"tessera\"";

/// The client an OAuth endpoint's request authenticates as, from its headers: `None` when
/// the headers carry no credential, so the body's `client_id` and `client_secret` must
/// ([`OAuthCaller::resolve`]). A credential in the headers is checked before the body is read.
pub(crate) struct OAuthCaller {
    caller: Option<Caller>,
    peer: Option<IpAddr>,
}

impl FromRequestParts<AppState> for OAuthCaller {
    type Rejection = OAuthError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let peer = peer_of(parts);
        let caller = match basic_credentials(parts) {
            Some(Ok((client_id, secret))) => Some(
                admit_key(state, peer, Some(&secret), Some(&client_id), false)
                    .await
                    .map_err(|e| basic_failure(e, true))?,
            ),
            Some(Err(())) => return Err(OAuthError::invalid_client(INVALID, true)),
            // The forms every other route takes, checked as every other key-only route checks
            // them: a partner's access token gets the same refusal here as there.
            None => match presented_key(&parts.headers) {
                Some(_) => Some(admit(parts, state, false).await.map_err(|e| header_failure(e, &parts.headers))?),
                None => None,
            },
        };
        Ok(OAuthCaller { caller, peer })
    }
}

/// A credential in `X-Api-Key` or `Authorization: Bearer` that does not hold: `invalid_client`,
/// challenged with the scheme the client used (RFC 6749, section 5.2): Bearer for a bearer
/// token, else Basic, the scheme of OAuth client authentication.
fn header_failure(e: ApiError, headers: &axum::http::HeaderMap) -> OAuthError {
    let bearer = headers.get("x-api-key").is_none_or(|v| v.as_bytes().trim_ascii().is_empty())
        && headers
            .get(AUTHORIZATION)
            .is_some_and(|v| v.as_bytes().get(..6).is_some_and(|s| s.eq_ignore_ascii_case(b"bearer")));
    match e {
        ApiError::Unauthorized(why) => OAuthError::invalid_client(why, !bearer),
        other => OAuthError::from(other),
    }
}

/// An authentication failure: any 401 is `invalid_client` with one sentence (which of the id
/// or the secret was wrong is not said).
fn basic_failure(e: ApiError, basic: bool) -> OAuthError {
    match e {
        ApiError::Unauthorized(_) => OAuthError::invalid_client(INVALID, basic),
        other => OAuthError::Other(other),
    }
}

impl OAuthCaller {
    /// The authenticated client: the headers' credential, else the body's `client_id` and
    /// `client_secret` (`client_secret_post`). A body that could not be read names no client.
    pub(crate) async fn resolve(
        self,
        state: &AppState,
        body: &Result<RawBody, ApiError>,
    ) -> Result<Caller, OAuthError> {
        let posted = match body {
            Ok(RawBody::Json(Value::Object(map))) => match (map.get("client_id"), map.get("client_secret")) {
                (None, None) => None,
                (Some(Value::String(id)), Some(Value::String(secret))) => Some((id.clone(), secret.clone())),
                _ => return Err(OAuthError::invalid_client(INVALID, true)),
            },
            _ => None,
        };
        match (self.caller, posted) {
            (Some(_), Some(_)) => Err(OAuthError::InvalidRequest(TWO_METHODS.into())),
            (Some(caller), None) => Ok(caller),
            (None, Some((id, secret))) => {
                admit_key(state, self.peer, Some(&secret), Some(&id), false).await.map_err(|e| basic_failure(e, true))
            }
            (None, None) => Err(OAuthError::invalid_client(MISSING, true)),
        }
    }
}

/// `Authorization: Basic base64(client_id ":" client_secret)`, each part form-urlencoded
/// (RFC 6749, section 2.3.1): `None` without a Basic header, `Err` for one that cannot be read.
fn basic_credentials(parts: &Parts) -> Option<Result<(String, String), ()>> {
    let value = parts.headers.get(AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    Some(decode_basic(encoded.trim()))
}

fn decode_basic(encoded: &str) -> Result<(String, String), ()> {
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
    let decoded = engine.decode(encoded).map_err(|_| ())?;
    let text = String::from_utf8(decoded).map_err(|_| ())?;
    let (id, secret) = text.split_once(':').ok_or(())?;
    let unescape = |s: &str| -> String {
        url::form_urlencoded::parse(format!("x={s}").as_bytes()).next().map(|(_, v)| v.into_owned()).unwrap_or_default()
    };
    let (id, secret) = (unescape(id), unescape(secret));
    if id.is_empty() || secret.is_empty() {
        return Err(());
    }
    Ok((id, secret))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_form_decoded() {
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        assert_eq!(decode_basic(&b64("01ABC:tsk_x_y")), Ok(("01ABC".into(), "tsk_x_y".into())));
        // Authlib and RFC 6749 escape both parts; a `:` in the secret survives.
        assert_eq!(decode_basic(&b64("a%3Ab:c%2Bd+e:f")), Ok(("a:b".into(), "c+d e:f".into())));
        assert_eq!(decode_basic(b64("01ABC:tsk").trim_end_matches('=')), Ok(("01ABC".into(), "tsk".into())));
        for bad in [b64("no-colon"), b64(":secret"), b64("id:"), "%%%".into(), b64("\u{0}")] {
            assert_eq!(decode_basic(&bad), Err(()), "{bad}");
        }
    }

    #[test]
    fn validation_failures_are_described_by_their_first_field() {
        let missing = FieldError::missing(vec!["body".into(), "token".into()], Value::Null);
        assert_eq!(describe(&[missing]), "token: Field required");
        assert_eq!(describe(&[FieldError::json_invalid(3, "x")]), "body: JSON decode error");
    }
}
