//! The sandbox's client of tessera's connector API: plain HTTP with the connector credential,
//! exactly the calls an operator's own connector makes (see the README's "Connector API").
//!
//! A link session's reference is a bearer secret for one sign-in: it travels only in request
//! paths, and no error this module returns names a URL (`reqwest`'s errors would show it).
use std::time::Duration;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::header::{CONTENT_TYPE, HeaderValue};
use serde::Deserialize;
use serde_json::{Value, json};

/// A connector credential (`tsc_...`). Its `Debug` and `Display` never show it.
#[derive(Clone)]
pub struct Credential(String);

impl Credential {
    /// The credential as given, trimmed. Checked here rather than by the argument parser so
    /// that a refusal never echoes the value it refused.
    pub fn new(value: &str) -> anyhow::Result<Self> {
        let value = value.trim();
        if !value.starts_with("tsc_") || value.len() < 8 || !value.bytes().all(|b| b.is_ascii_graphic()) {
            anyhow::bail!(
                "--connector-credential: a connector credential looks like tsc_<id>_<secret> \
                 (make one with `tessera connector create --name sandbox`)"
            );
        }
        Ok(Self(value.to_owned()))
    }
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Credential(<redacted>)")
    }
}

/// Why a call to tessera did not give an answer the sandbox can use.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CallError {
    /// tessera could not be reached (refused, reset, timed out): worth trying again.
    #[error("tessera could not be reached: {0}")]
    Unreachable(String),
    /// tessera answered, with a status the caller did not expect.
    #[error("tessera answered {status}: {detail}")]
    Status { status: u16, detail: String },
    /// tessera answered 2xx with a body that is not what the protocol says.
    #[error("tessera's answer could not be read: {0}")]
    Body(String),
}

impl CallError {
    /// Whether trying again later may succeed: tessera is starting, or briefly unavailable.
    pub(crate) fn is_transient(&self) -> bool {
        match self {
            Self::Unreachable(_) => true,
            Self::Status { status, .. } => matches!(status, 429 | 502 | 503 | 504),
            Self::Body(_) => false,
        }
    }
}

/// A link session as `GET /connector/link-sessions/{reference}` describes it.
#[derive(Clone, Debug, Deserialize)]
pub(crate) struct LinkSession {
    pub retailer_id: String,
    pub retailer_name: String,
    pub client_name: String,
    pub return_url: String,
}

/// The connection a completion reports (as `GET /connector/connections/{id}` shows it).
#[derive(Clone, Debug, Deserialize)]
pub(crate) struct Connection {
    pub connection_id: String,
    pub retailer_id: String,
}

/// What `POST /connector/link-sessions/{reference}/complete` answers.
#[derive(Clone, Debug, Deserialize)]
pub(crate) struct Completed {
    #[serde(default)]
    pub connection: Option<Connection>,
    pub return_url: String,
}

/// How a link session ended at the connector.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    Active,
    Failed,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Failed => "failed",
        }
    }
}

/// Characters escaped in one path segment: everything but the unreserved ones.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

/// tessera's connector API, reached at `base` with `credential`.
#[derive(Clone, Debug)]
pub(crate) struct ConnectorClient {
    base: String,
    auth: HeaderValue,
    http: reqwest::Client,
}

impl ConnectorClient {
    pub(crate) fn new(base: &str, credential: &Credential) -> anyhow::Result<Self> {
        let mut auth = HeaderValue::from_str(&credential.0)
            .map_err(|_| anyhow::anyhow!("--connector-credential has characters a header cannot carry"))?;
        // Kept out of any debug output of the request.
        auth.set_sensitive(true);
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .connect_timeout(Duration::from_secs(5))
            // tessera's API never redirects; following one could send the credential elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("tessera-sandbox/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self { base: base.trim_end_matches('/').to_owned(), auth, http })
    }

    /// The API base this client calls.
    pub(crate) fn base(&self) -> &str {
        &self.base
    }

    /// Adds `retailer_id` to the catalogue as `name`, or renames it.
    pub(crate) async fn put_retailer(&self, retailer_id: &str, name: &str) -> Result<(), CallError> {
        let path = format!("/connector/retailers/{}", segment(retailer_id));
        self.call(reqwest::Method::PUT, &path, Some(json!({ "name": name }))).await.map(drop)
    }

    /// Registers `url` as this connector's sign-in page for `retailer_ids`.
    pub(crate) async fn put_link_url(&self, url: &str, retailer_ids: &[&str]) -> Result<(), CallError> {
        let body = json!({ "url": url, "retailer_ids": retailer_ids });
        self.call(reqwest::Method::PUT, "/connector/link-url", Some(body)).await.map(drop)
    }

    /// The session `reference` names, or `None` when it is unknown, used or expired.
    pub(crate) async fn link_session(&self, reference: &str) -> Result<Option<LinkSession>, CallError> {
        let path = format!("/connector/link-sessions/{}", segment(reference));
        match self.call(reqwest::Method::GET, &path, None).await {
            Ok(v) => parse(v).map(Some),
            Err(CallError::Status { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Completes the session with `outcome`; `None` when it was completed already or expired.
    pub(crate) async fn complete(&self, reference: &str, outcome: Outcome) -> Result<Option<Completed>, CallError> {
        let path = format!("/connector/link-sessions/{}/complete", segment(reference));
        let body = json!({ "outcome": outcome.as_str() });
        match self.call(reqwest::Method::POST, &path, Some(body)).await {
            Ok(v) => parse(v).map(Some),
            Err(CallError::Status { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Reports the connection `unauthenticated`, saying why.
    pub(crate) async fn report_unauthenticated(&self, connection_id: &str, reason: &str) -> Result<(), CallError> {
        let path = format!("/connector/connections/{}/status", segment(connection_id));
        let body = json!({ "status": "unauthenticated", "reason": reason });
        self.call(reqwest::Method::PUT, &path, Some(body)).await.map(drop)
    }

    /// Writes `purchases` (a batch as `PUT .../purchases` takes it) for the connection.
    pub(crate) async fn put_purchases(&self, connection_id: &str, purchases: Value) -> Result<(), CallError> {
        let path = format!("/connector/connections/{}/purchases", segment(connection_id));
        self.call(reqwest::Method::PUT, &path, Some(json!({ "purchases": purchases }))).await.map(drop)
    }

    /// One call: the credential, a JSON body if any, and the JSON answer of a 2xx (`null` when
    /// empty). Any other status is an error carrying tessera's `detail`.
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Result<Value, CallError> {
        let mut req = self.http.request(method, format!("{}{path}", self.base)).header("x-api-key", self.auth.clone());
        if let Some(body) = body {
            req = req.header(CONTENT_TYPE, "application/json").body(body.to_string());
        }
        let resp = req.send().await.map_err(|e| CallError::Unreachable(e.without_url().to_string()))?;
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(|e| CallError::Unreachable(e.without_url().to_string()))?;
        if !status.is_success() {
            return Err(CallError::Status { status: status.as_u16(), detail: detail(&bytes) });
        }
        if bytes.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&bytes).map_err(|e| CallError::Body(e.to_string()))
    }
}

/// `value` read as `T`.
fn parse<T: serde::de::DeserializeOwned>(value: Value) -> Result<T, CallError> {
    serde_json::from_value(value).map_err(|e| CallError::Body(e.to_string()))
}

/// `text` escaped as one path segment.
fn segment(text: &str) -> String {
    utf8_percent_encode(text, SEGMENT).to_string()
}

/// What an error answer says: its `detail` when it is a string, else the start of the body.
fn detail(bytes: &[u8]) -> String {
    let parsed: Option<Value> = serde_json::from_slice(bytes).ok();
    match parsed.as_ref().and_then(|v| v.get("detail")) {
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_credential_is_never_shown() {
        let c = Credential::new(" tsc_01J0000000000000000000000A_c2VjcmV0 ").expect("valid");
        assert_eq!(format!("{c:?}"), "Credential(<redacted>)");
        let client = ConnectorClient::new("http://127.0.0.1:1/", &c).expect("client");
        assert!(!format!("{client:?}").contains("c2VjcmV0"), "{client:?}");
        assert_eq!(client.base(), "http://127.0.0.1:1");
    }

    #[test]
    fn a_refused_credential_is_not_echoed() {
        for bad in ["", "tsk_abc_def", "secret-value", "tsc_a b c d"] {
            let err = Credential::new(bad).expect_err(bad).to_string();
            assert!(bad.is_empty() || !err.contains(bad), "{err}");
        }
    }

    #[test]
    fn a_reference_is_one_path_segment() {
        assert_eq!(segment("ls_abc-DEF_1.2~"), "ls_abc-DEF_1.2~");
        assert_eq!(segment("../x?y#z"), "..%2Fx%3Fy%23z");
    }

    #[test]
    fn an_error_answer_says_its_detail() {
        assert_eq!(detail(br#"{"detail":"Link session not found"}"#), "Link session not found");
        assert_eq!(detail(b"plain"), "plain");
        assert!(CallError::Unreachable("refused".into()).is_transient());
        assert!(CallError::Status { status: 503, detail: String::new() }.is_transient());
        assert!(!CallError::Status { status: 401, detail: String::new() }.is_transient());
    }
}
