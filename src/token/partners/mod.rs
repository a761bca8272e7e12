//! Partner apps' OAuth access tokens: tessera as a resource server for the operator's own
//! authorization servers (Keycloak, Hydra, ...).
//!
//! Each trusted issuer is configured by its issuer URL. Its metadata is discovered at first
//! use ([`discovery`]), and its JWKS is cached for the `max-age` it is served with and
//! refetched when a token names an unknown `kid`, at most once per `min_refetch` (30 s), so
//! forged kids cannot make tessera hammer the issuer. A failed fetch (metadata or JWKS) is
//! not retried before `min_refetch` has passed, then twice that, up to five minutes: however
//! many requests arrive, an issuer that is down or misconfigured is asked at most once per
//! backoff period. A JWT access token (RFC 9068) is routed by its `iss` (an untrusted `iss`
//! causes no request), verified with the key its `kid` names, the algorithm pinned by that key
//! (never taken from the token), then `exp`, `nbf`, `iss` and `aud` are checked. An issuer
//! that cannot be reached fails its own tokens only ([`PartnerError::Unavailable`]).
//!
//! An opaque access token (not a JWT, not a tessera API key) is checked at one issuer's RFC
//! 7662 introspection endpoint, chosen by the operator's configuration, never broadcast
//! ([`introspection`]).
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::verify::{LEEWAY_SECS, VerifyError, VerifyKey, verified_payload};
use discovery::{DiscoveryError, parse_jwks};

pub(crate) mod discovery;
mod introspection;

/// The OAuth scopes tessera's routes require, as Subtotal names them.
pub(crate) mod scope {
    pub(crate) const CONNECTIONS_READ: &str = "connections:read";
    pub(crate) const CONNECTIONS_WRITE: &str = "connections:write";
    pub(crate) const PURCHASES: &str = "purchases:brand_products";
    pub(crate) const WEBHOOKS_READ: &str = "webhooks:read";
    pub(crate) const WEBHOOKS_WRITE: &str = "webhooks:write";
    /// Every scope, for the OpenAPI document.
    pub(crate) const ALL: [(&str, &str); 5] = [
        (CONNECTIONS_READ, "Read connections, their activity, link tokens and retailers"),
        (CONNECTIONS_WRITE, "Create, change and delete connections, mint connection tokens, create link tokens"),
        (PURCHASES, "Read a connection's purchases"),
        (WEBHOOKS_READ, "Read webhook endpoints and their deliveries"),
        (WEBHOOKS_WRITE, "Create, change and delete webhook endpoints, redeliver events"),
    ];
}

/// What a partner app's access token needs on a route (an API key needs no scope): declared
/// per route in the route table, carried to the extractor as a request extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// No partner token: an API key only (or no client credential at all).
    ApiKeyOnly,
    /// Any partner token, whatever its scopes.
    AnyScope,
    /// A partner token with this scope.
    Scope(&'static str),
}

/// The claim naming the tessera client a token acts for, unless configured otherwise.
pub const DEFAULT_CLIENT_CLAIM: &str = "subtotal_client_id";

/// What partner tokens must satisfy.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The trusted issuers' URLs, exactly as their tokens' `iss` states them.
    pub issuers: Vec<String>,
    /// The audience tessera must find in `aud`.
    pub audience: String,
    /// The claim naming the tessera client the token acts for.
    pub client_claim: String,
    /// The least time between two JWKS fetches caused by unknown kids.
    pub min_refetch: Duration,
    /// How long one request to an issuer may take.
    pub timeout: Duration,
    /// tessera's own client credentials at the issuers' introspection endpoints, for opaque
    /// access tokens; `None`: opaque tokens are not accepted.
    pub introspection: Option<IntrospectionClient>,
    /// `(issuer, prefix)`: opaque tokens starting with `prefix` are introspected at `issuer`
    /// only (an empty prefix: every opaque token no other prefix claims). None configured and
    /// one issuer: that issuer; none configured and several: opaque tokens are refused.
    pub opaque_prefixes: Vec<(String, String)>,
    /// Refuse JWT access tokens whose header `typ` is not `at+jwt` (RFC 9068).
    pub require_at_jwt: bool,
    /// The longest an active introspection answer is reused (never past the token's `exp`).
    pub introspection_cache: Duration,
}

/// tessera's client id and secret at an authorization server's introspection endpoint.
#[derive(Clone)]
pub struct IntrospectionClient {
    pub client_id: String,
    pub secret: ClientSecret,
}

impl std::fmt::Debug for IntrospectionClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IntrospectionClient").field("client_id", &self.client_id).field("secret", &self.secret).finish()
    }
}

/// A client secret, never shown.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientSecret(String);

impl ClientSecret {
    /// From a flag or environment value: anything non-empty.
    pub fn from_arg(s: &str) -> Result<ClientSecret, String> {
        if s.is_empty() {
            return Err("an empty client secret".into());
        }
        Ok(ClientSecret(s.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientSecret(<redacted>)")
    }
}

/// A verified partner token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartnerToken {
    pub issuer: String,
    /// The partner app: the token's `client_id`, else its `azp`.
    pub partner_client_id: String,
    /// The tessera client it acts for (the configured claim).
    pub client_id: String,
    pub scopes: Vec<String>,
}

/// Why a bearer token is no partner credential.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum PartnerError {
    /// Not a JWT, or not one of a trusted issuer: perhaps an API key sent as a bearer token.
    #[error("not a trusted issuer's token")]
    NotPartner,
    /// A trusted issuer's token that does not hold (why, for the log; never the token).
    #[error("access token refused: {0}")]
    Invalid(String),
    /// The issuer's metadata or keys cannot be fetched.
    #[error("the authorization server {0} cannot be reached")]
    Unavailable(String),
}

struct Keys {
    keys: HashMap<String, Arc<VerifyKey>>,
    jwks_uri: Option<String>,
    /// The introspection endpoint its metadata names (known once `jwks_uri` is).
    introspection_endpoint: Option<String>,
    expires: Option<Instant>,
    last_fetch: Option<Instant>,
    /// Failed fetches in a row (metadata or JWKS), and the earliest time the next may be made.
    failures: u32,
    retry_at: Option<Instant>,
}

struct Issuer {
    url: String,
    /// The prefix of its opaque access tokens (`Some("")`: every opaque token no other
    /// issuer's prefix claims).
    opaque_prefix: Option<String>,
    keys: Mutex<Keys>,
}

/// The trusted issuers and their cached keys.
pub struct Issuers {
    settings: Settings,
    http: reqwest::Client,
    issuers: Vec<Issuer>,
    /// Active introspection answers by the token's SHA-256, with when they stop being reused.
    introspected: std::sync::Mutex<HashMap<[u8; 32], (PartnerToken, i64)>>,
}

/// The longest wait between two fetches at an issuer that keeps failing.
const MAX_BACKOFF: Duration = Duration::from_secs(300);

impl Issuers {
    pub fn new(settings: Settings) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder().timeout(settings.timeout).build()?;
        let issuers = settings
            .issuers
            .iter()
            .map(|url| Issuer {
                url: url.clone(),
                opaque_prefix: settings.opaque_prefixes.iter().find(|(i, _)| i == url).map(|(_, p)| p.clone()),
                keys: Mutex::new(Keys {
                    keys: HashMap::new(),
                    jwks_uri: None,
                    introspection_endpoint: None,
                    expires: None,
                    last_fetch: None,
                    failures: 0,
                    retry_at: None,
                }),
            })
            .collect();
        Ok(Self { settings, http, issuers, introspected: Default::default() })
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Verifies `token` at Unix time `now`: [`PartnerError::NotPartner`] for anything that is
    /// neither a JWT whose `iss` is a trusted issuer nor an opaque token routed to one.
    pub async fn verify(&self, token: &str, now: i64) -> Result<PartnerToken, PartnerError> {
        let Some(iss) = unverified_issuer(token) else {
            return self.introspect(token, now).await;
        };
        // An untrusted `iss` costs nothing: no issuer is asked about it.
        let issuer = self.issuers.iter().find(|i| i.url == iss).ok_or(PartnerError::NotPartner)?;
        let header = header(token).unwrap_or_default();
        if self.settings.require_at_jwt && !typed_at_jwt(&header) {
            return Err(PartnerError::Invalid("typ is not at+jwt".into()));
        }
        let kid = header["kid"].as_str().ok_or_else(|| PartnerError::Invalid(VerifyError::NoKid.to_string()))?;
        let key = self.key(issuer, kid).await?;
        let payload = verified_payload(token, |_| Some(Ok(key))).map_err(|e| PartnerError::Invalid(e.to_string()))?;
        let claims: Value =
            serde_json::from_slice(&payload).map_err(|_| PartnerError::Invalid("malformed claims".into()))?;
        self.check(&issuer.url, &claims, now)
    }

    /// The key `kid` names, from the cache, fetched when the cache has expired, or refetched
    /// (rate-limited) when the kid is unknown.
    async fn key(&self, issuer: &Issuer, kid: &str) -> Result<Arc<VerifyKey>, PartnerError> {
        let unknown = || PartnerError::Invalid(VerifyError::UnknownKid(kid.to_owned()).to_string());
        let mut keys = issuer.keys.lock().await;
        let now = Instant::now();
        if keys.expires.is_none_or(|e| e <= now) {
            self.refresh(issuer, &mut keys, now).await?;
        }
        if let Some(key) = keys.keys.get(kid) {
            return Ok(key.clone());
        }
        let may_refetch = keys.last_fetch.is_none_or(|at| now.duration_since(at) >= self.settings.min_refetch);
        if !may_refetch {
            return Err(unknown());
        }
        self.refresh(issuer, &mut keys, now).await?;
        keys.keys.get(kid).cloned().ok_or_else(unknown)
    }

    async fn refresh(&self, issuer: &Issuer, keys: &mut Keys, now: Instant) -> Result<(), PartnerError> {
        if keys.retry_at.is_some_and(|at| now < at) {
            return Err(PartnerError::Unavailable(issuer.url.clone()));
        }
        let jwks_uri = self.metadata(issuer, keys).await?;
        keys.last_fetch = Some(now);
        match discovery::get_json(&self.http, &jwks_uri).await {
            Ok((jwks, max_age)) => {
                keys.keys = parse_jwks(&jwks);
                keys.expires = Some(now + max_age.unwrap_or(Duration::from_secs(300)));
                keys.failures = 0;
                keys.retry_at = None;
                Ok(())
            }
            Err(e) => Err(self.failed(issuer, keys, &DiscoveryError::Unreachable(e))),
        }
    }

    /// The issuer's `jwks_uri`, discovering its metadata the first time. While an earlier
    /// failure's backoff lasts, nothing is fetched: the issuer is unavailable.
    async fn metadata(&self, issuer: &Issuer, keys: &mut Keys) -> Result<String, PartnerError> {
        if let Some(uri) = &keys.jwks_uri {
            return Ok(uri.clone());
        }
        if keys.retry_at.is_some_and(|at| Instant::now() < at) {
            return Err(PartnerError::Unavailable(issuer.url.clone()));
        }
        let metadata = match discovery::discover(&self.http, &issuer.url).await {
            Ok(metadata) => metadata,
            Err(e) => return Err(self.failed(issuer, keys, &e)),
        };
        let Some(uri) = metadata["jwks_uri"].as_str().map(str::to_owned) else {
            let e = DiscoveryError::Unreachable(anyhow::anyhow!("its metadata names no jwks_uri"));
            return Err(self.failed(issuer, keys, &e));
        };
        keys.introspection_endpoint = metadata["introspection_endpoint"].as_str().map(str::to_owned);
        keys.jwks_uri = Some(uri.clone());
        keys.failures = 0;
        keys.retry_at = None;
        Ok(uri)
    }

    /// A failed fetch at `issuer`: logged (saying whether it answered with another issuer's
    /// metadata or could not be reached), and the next fetch held back for `min_refetch`,
    /// doubling with each failure in a row up to [`MAX_BACKOFF`].
    fn failed(&self, issuer: &Issuer, keys: &mut Keys, e: &DiscoveryError) -> PartnerError {
        keys.failures = keys.failures.saturating_add(1);
        let backoff = self
            .settings
            .min_refetch
            .saturating_mul(1 << keys.failures.saturating_sub(1).min(16))
            .min(MAX_BACKOFF.max(self.settings.min_refetch));
        keys.retry_at = Some(Instant::now() + backoff);
        let retry_in = backoff.as_secs();
        match e {
            DiscoveryError::Mismatch { .. } => tracing::warn!(
                issuer = %issuer.url, error = %e, retry_in,
                "an authorization server's metadata does not match its configured issuer URL"
            ),
            DiscoveryError::Unreachable(_) => {
                tracing::warn!(issuer = %issuer.url, error = %e, retry_in, "an authorization server cannot be reached")
            }
        }
        PartnerError::Unavailable(issuer.url.clone())
    }

    fn check(&self, issuer: &str, claims: &Value, now: i64) -> Result<PartnerToken, PartnerError> {
        let invalid = |why: &str| Err(PartnerError::Invalid(why.to_owned()));
        if claims["iss"].as_str() != Some(issuer) {
            return invalid("wrong issuer");
        }
        let Some(exp) = claims["exp"].as_i64() else { return invalid("no exp") };
        // Expired means expired, as for tessera's own tokens; nbf allows for clock skew.
        if exp <= now {
            return invalid("expired");
        }
        if claims["nbf"].as_i64().is_some_and(|nbf| nbf - LEEWAY_SECS > now) {
            return invalid("not valid yet");
        }
        let audience = &self.settings.audience;
        let aud_ok = match &claims["aud"] {
            Value::String(a) => a == audience,
            Value::Array(list) => list.iter().any(|a| a.as_str() == Some(audience)),
            _ => false,
        };
        if !aud_ok {
            return invalid("wrong audience");
        }
        let partner = claims["client_id"].as_str().or_else(|| claims["azp"].as_str()).filter(|s| !s.is_empty());
        let Some(partner) = partner else { return invalid("names no client_id or azp") };
        let client = claims[self.settings.client_claim.as_str()].as_str().filter(|s| !s.is_empty());
        let Some(client) = client else { return invalid("names no tessera client") };
        let scopes = match (&claims["scope"], &claims["scp"]) {
            (Value::String(s), _) => s.split(' ').filter(|s| !s.is_empty()).map(str::to_owned).collect(),
            (_, Value::Array(list)) => list.iter().filter_map(|s| s.as_str().map(str::to_owned)).collect(),
            _ => Vec::new(),
        };
        Ok(PartnerToken {
            issuer: issuer.to_owned(),
            partner_client_id: partner.to_owned(),
            client_id: client.to_owned(),
            scopes,
        })
    }
}

/// The `iss` of a JWT, read without verifying it (only to choose the issuer whose keys will).
fn unverified_issuer(token: &str) -> Option<String> {
    let mut parts = token.split('.');
    let (Some(_), Some(payload), Some(_), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return None;
    };
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
    claims["iss"].as_str().map(str::to_owned)
}

fn header(token: &str) -> Option<Value> {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(token.split('.').next()?).ok()?).ok()
}

/// Whether a JWT header's `typ` is RFC 9068's `at+jwt` (or its media type), in any case.
fn typed_at_jwt(header: &Value) -> bool {
    header["typ"].as_str().is_some_and(|t| {
        let t = t.to_ascii_lowercase();
        t == "at+jwt" || t == "application/at+jwt"
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_introspection_secret_is_never_shown() {
        let client = IntrospectionClient {
            client_id: "tessera".into(),
            secret: ClientSecret::from_arg("s3cret-value").expect("secret"),
        };
        let shown = format!("{client:?}");
        assert!(!shown.contains("s3cret") && shown.contains("<redacted>") && shown.contains("tessera"), "{shown}");
        assert!(ClientSecret::from_arg("").is_err());
    }

    #[test]
    fn only_a_jwt_names_an_issuer() {
        let payload = URL_SAFE_NO_PAD.encode(r#"{"iss":"https://as.example"}"#);
        assert_eq!(unverified_issuer(&format!("h.{payload}.s")).as_deref(), Some("https://as.example"));
        for not in ["tsk_abc_def", "a.b", "a.b.c.d", &format!("h.{payload}"), "h.!!.s"] {
            assert_eq!(unverified_issuer(not), None, "{not}");
        }
    }
}
