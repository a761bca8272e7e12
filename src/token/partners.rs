//! Partner apps' OAuth access tokens: tessera as a resource server for the operator's own
//! authorization servers (Keycloak, Hydra, ...).
//!
//! Each trusted issuer is configured by its issuer URL. Its metadata is discovered at first
//! use (RFC 8414's `/.well-known/oauth-authorization-server`, else OpenID Connect discovery),
//! and its JWKS is cached for the `max-age` it is served with and refetched when a token
//! names an unknown `kid`, at most once per `min_refetch` (30 s), so forged kids cannot make
//! tessera hammer the issuer. A JWT access token (RFC 9068) is verified with the key its
//! `kid` names, the algorithm pinned by that key (never taken from the token), then `exp`,
//! `nbf`, `iss` and `aud` are checked. An issuer that cannot be reached fails its own tokens
//! only ([`PartnerError::Unavailable`]).
//!
//! An opaque access token (not a JWT, not a tessera API key) is checked at the issuer's RFC
//! 7662 introspection endpoint, when tessera has client credentials there
//! ([`Settings::introspection`]); an active answer is cached by the token's digest for at most
//! [`Settings::introspection_cache`] and never past the token's `exp`.
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::verify::{LEEWAY_SECS, RsaAlg, VerifyError, VerifyKey, verified_payload};

/// The OAuth scopes tessera's routes require, as Subtotal names them.
pub mod scope {
    pub const CONNECTIONS_READ: &str = "connections:read";
    pub const CONNECTIONS_WRITE: &str = "connections:write";
    pub const PURCHASES: &str = "purchases:brand_products";
    pub const WEBHOOKS_READ: &str = "webhooks:read";
    pub const WEBHOOKS_WRITE: &str = "webhooks:write";
    /// Every scope, for the OpenAPI document.
    pub const ALL: [(&str, &str); 5] = [
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
}

struct Issuer {
    url: String,
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

/// The most introspection answers kept at once (the cache is emptied when it is full).
const MAX_INTROSPECTED: usize = 10_000;

impl Issuers {
    pub fn new(settings: Settings) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder().timeout(settings.timeout).build()?;
        let issuers = settings
            .issuers
            .iter()
            .map(|url| Issuer {
                url: url.clone(),
                keys: Mutex::new(Keys {
                    keys: HashMap::new(),
                    jwks_uri: None,
                    introspection_endpoint: None,
                    expires: None,
                    last_fetch: None,
                }),
            })
            .collect();
        Ok(Self { settings, http, issuers, introspected: Default::default() })
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Verifies `token` at Unix time `now`: [`PartnerError::NotPartner`] for anything that is
    /// not a JWT whose `iss` is a trusted issuer.
    pub async fn verify(&self, token: &str, now: i64) -> Result<PartnerToken, PartnerError> {
        let Some(iss) = unverified_issuer(token) else {
            return self.introspect(token, now).await;
        };
        let issuer = self.issuers.iter().find(|i| i.url == iss).ok_or(PartnerError::NotPartner)?;
        let key = self.key(issuer, token).await?;
        let payload = verified_payload(token, |_| Some(Ok(key))).map_err(|e| PartnerError::Invalid(e.to_string()))?;
        let claims: Value =
            serde_json::from_slice(&payload).map_err(|_| PartnerError::Invalid("malformed claims".into()))?;
        self.check(&issuer.url, &claims, now)
    }

    /// The key the token's `kid` names, from the cache, fetched when the cache has expired,
    /// or refetched (rate-limited) when the kid is unknown.
    async fn key(&self, issuer: &Issuer, token: &str) -> Result<Arc<VerifyKey>, PartnerError> {
        let kid = header_kid(token).ok_or_else(|| PartnerError::Invalid(VerifyError::NoKid.to_string()))?;
        let mut keys = issuer.keys.lock().await;
        let now = Instant::now();
        if keys.expires.is_none_or(|e| e <= now) {
            self.refresh(issuer, &mut keys, now).await?;
        }
        if let Some(key) = keys.keys.get(&kid) {
            return Ok(key.clone());
        }
        let may_refetch = keys.last_fetch.is_none_or(|at| now.duration_since(at) >= self.settings.min_refetch);
        if !may_refetch {
            return Err(PartnerError::Invalid(VerifyError::UnknownKid(kid).to_string()));
        }
        self.refresh(issuer, &mut keys, now).await?;
        keys.keys.get(&kid).cloned().ok_or_else(|| PartnerError::Invalid(VerifyError::UnknownKid(kid).to_string()))
    }

    async fn refresh(&self, issuer: &Issuer, keys: &mut Keys, now: Instant) -> Result<(), PartnerError> {
        let unavailable = |e: anyhow::Error| {
            tracing::warn!(issuer = %issuer.url, error = %format!("{e:#}"), "an authorization server cannot be reached");
            PartnerError::Unavailable(issuer.url.clone())
        };
        keys.last_fetch = Some(now);
        let jwks_uri = self.metadata(issuer, keys).await?;
        let (jwks, max_age) = get_json(&self.http, &jwks_uri).await.map_err(unavailable)?;
        keys.keys = parse_jwks(&jwks);
        keys.expires = Some(now + max_age.unwrap_or(Duration::from_secs(300)));
        Ok(())
    }

    /// The issuer's `jwks_uri`, discovering its metadata the first time.
    async fn metadata(&self, issuer: &Issuer, keys: &mut Keys) -> Result<String, PartnerError> {
        if let Some(uri) = &keys.jwks_uri {
            return Ok(uri.clone());
        }
        let unavailable = |e: anyhow::Error| {
            tracing::warn!(issuer = %issuer.url, error = %format!("{e:#}"), "an authorization server cannot be reached");
            PartnerError::Unavailable(issuer.url.clone())
        };
        let metadata = discover(&self.http, &issuer.url).await.map_err(unavailable)?;
        let uri = metadata["jwks_uri"]
            .as_str()
            .ok_or_else(|| unavailable(anyhow::anyhow!("its metadata names no jwks_uri")))?
            .to_owned();
        keys.introspection_endpoint = metadata["introspection_endpoint"].as_str().map(str::to_owned);
        keys.jwks_uri = Some(uri.clone());
        Ok(uri)
    }

    /// An opaque token, asked of each issuer's introspection endpoint (RFC 7662) with
    /// tessera's client credentials: the first active answer, cached by the token's digest.
    async fn introspect(&self, token: &str, now: i64) -> Result<PartnerToken, PartnerError> {
        // A tessera API key, or no introspection configured: not a partner's token.
        let Some(client) = &self.settings.introspection else { return Err(PartnerError::NotPartner) };
        if token.starts_with(crate::auth::api_key::PREFIX) {
            return Err(PartnerError::NotPartner);
        }
        let digest: [u8; 32] = <sha2::Sha256 as sha2::Digest>::digest(token.as_bytes()).into();
        if let Some((found, until)) = self.cached(&digest)
            && now < until
        {
            return Ok(found);
        }
        let mut unavailable = None;
        for issuer in &self.issuers {
            let endpoint = {
                let mut keys = issuer.keys.lock().await;
                match self.metadata(issuer, &mut keys).await {
                    Ok(_) => keys.introspection_endpoint.clone(),
                    Err(e) => {
                        unavailable = Some(e);
                        continue;
                    }
                }
            };
            let Some(endpoint) = endpoint else { continue };
            let answer = self
                .http
                .post(&endpoint)
                .basic_auth(&client.client_id, Some(client.secret.expose()))
                .form(&[("token", token), ("token_type_hint", "access_token")])
                .send()
                .await;
            let claims: Value = match answer {
                Ok(resp) if resp.status().is_success() => {
                    match resp.bytes().await.map(|b| serde_json::from_slice(&b)) {
                        Ok(Ok(v)) => v,
                        _ => {
                            unavailable = Some(PartnerError::Unavailable(issuer.url.clone()));
                            continue;
                        }
                    }
                }
                Ok(resp) => {
                    tracing::warn!(issuer = %issuer.url, status = %resp.status(), "introspection was refused");
                    unavailable = Some(PartnerError::Unavailable(issuer.url.clone()));
                    continue;
                }
                Err(e) => {
                    tracing::warn!(issuer = %issuer.url, error = %e.without_url(), "introspection failed");
                    unavailable = Some(PartnerError::Unavailable(issuer.url.clone()));
                    continue;
                }
            };
            if claims["active"] != Value::Bool(true) {
                continue;
            }
            let mut claims = claims;
            // The answer comes from the issuer itself; an `iss` it states must be its own.
            if claims.get("iss").is_none() {
                claims["iss"] = Value::String(issuer.url.clone());
            }
            let verified = self.check(&issuer.url, &claims, now)?;
            let exp = claims["exp"].as_i64().unwrap_or(now);
            let cache_secs = i64::try_from(self.settings.introspection_cache.as_secs()).unwrap_or(i64::MAX);
            let until = exp.min(now.saturating_add(cache_secs));
            let mut cache = self.introspected.lock().unwrap_or_else(|p| p.into_inner());
            if cache.len() >= MAX_INTROSPECTED {
                cache.clear();
            }
            cache.insert(digest, (verified.clone(), until));
            return Ok(verified);
        }
        Err(unavailable.unwrap_or_else(|| PartnerError::Invalid("inactive".into())))
    }

    fn cached(&self, digest: &[u8; 32]) -> Option<(PartnerToken, i64)> {
        self.introspected.lock().unwrap_or_else(|p| p.into_inner()).get(digest).cloned()
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

fn header_kid(token: &str) -> Option<String> {
    let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(token.split('.').next()?).ok()?).ok()?;
    header["kid"].as_str().map(str::to_owned)
}

/// An issuer's metadata: RFC 8414's well-known URL (inserted before the issuer's path), else
/// OpenID Connect discovery (appended to it). The document must name the issuer itself.
pub async fn discover(http: &reqwest::Client, issuer: &str) -> anyhow::Result<Value> {
    let url = url::Url::parse(issuer)?;
    let path = url.path().trim_end_matches('/');
    let origin = url.origin().ascii_serialization();
    let candidates = [
        format!("{origin}/.well-known/oauth-authorization-server{path}"),
        format!("{}/.well-known/openid-configuration", issuer.trim_end_matches('/')),
    ];
    let mut last = anyhow::anyhow!("no metadata");
    for candidate in candidates {
        match get_json(http, &candidate).await {
            Ok((doc, _)) if doc["issuer"].as_str() == Some(issuer) => return Ok(doc),
            Ok(_) => last = anyhow::anyhow!("the metadata at {candidate} names another issuer"),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// A JSON document and its `Cache-Control: max-age`.
async fn get_json(http: &reqwest::Client, url: &str) -> anyhow::Result<(Value, Option<Duration>)> {
    let resp = http.get(url).send().await.map_err(|e| anyhow::anyhow!(e.without_url()))?;
    if !resp.status().is_success() {
        anyhow::bail!("{url} answered {}", resp.status());
    }
    let max_age = resp
        .headers()
        .get(reqwest::header::CACHE_CONTROL)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').find_map(|d| d.trim().strip_prefix("max-age=")?.parse::<u64>().ok()))
        .map(Duration::from_secs);
    Ok((serde_json::from_slice(&resp.bytes().await?)?, max_age))
}

/// The signing keys of a JWKS by `kid`, each pinned to one algorithm: its `alg` when the
/// JWK states one, else the one its type allows (RS256, ES256, EdDSA). Encryption keys,
/// keys without a `kid` and keys of other types are left out.
pub fn parse_jwks(jwks: &Value) -> HashMap<String, Arc<VerifyKey>> {
    let b64 = |v: &Value| v.as_str().and_then(|s| URL_SAFE_NO_PAD.decode(s).ok());
    let mut keys = HashMap::new();
    for jwk in jwks["keys"].as_array().into_iter().flatten() {
        let Some(kid) = jwk["kid"].as_str() else { continue };
        if jwk["use"].as_str().is_some_and(|u| u != "sig") {
            continue;
        }
        let alg = jwk["alg"].as_str();
        let key = match (jwk["kty"].as_str(), alg) {
            (Some("RSA"), alg) => {
                let alg = match alg {
                    None | Some("RS256") => RsaAlg::Rs256,
                    Some("RS384") => RsaAlg::Rs384,
                    Some("RS512") => RsaAlg::Rs512,
                    _ => continue,
                };
                let (Some(n), Some(e)) = (b64(&jwk["n"]), b64(&jwk["e"])) else { continue };
                VerifyKey::Rsa { n, e, alg }
            }
            (Some("EC"), None | Some("ES256")) if jwk["crv"] == "P-256" => {
                let (Some(x), Some(y)) = (b64(&jwk["x"]), b64(&jwk["y"])) else { continue };
                if x.len() != 32 || y.len() != 32 {
                    continue;
                }
                VerifyKey::Es256([&[4u8][..], &x, &y].concat())
            }
            (Some("OKP"), None | Some("EdDSA")) if jwk["crv"] == "Ed25519" => {
                let Some(Ok(x)) = b64(&jwk["x"]).map(<[u8; 32]>::try_from) else { continue };
                let Ok(key) = ed25519_dalek::VerifyingKey::from_bytes(&x) else { continue };
                VerifyKey::Ed(key)
            }
            _ => continue,
        };
        keys.insert(kid.to_owned(), Arc::new(key));
    }
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_pinned_to_one_algorithm_and_encryption_keys_left_out() {
        let x = URL_SAFE_NO_PAD.encode([7u8; 32]);
        let ed = ed25519_dalek::SigningKey::from_bytes(&[9u8; 32]).verifying_key();
        let jwks = serde_json::json!({"keys": [
            {"kid": "r", "kty": "RSA", "n": "AQAB", "e": "AQAB"},
            {"kid": "r5", "kty": "RSA", "alg": "RS512", "n": "AQAB", "e": "AQAB"},
            {"kid": "ps", "kty": "RSA", "alg": "PS256", "n": "AQAB", "e": "AQAB"},
            {"kid": "enc", "kty": "RSA", "use": "enc", "n": "AQAB", "e": "AQAB"},
            {"kid": "ec", "kty": "EC", "crv": "P-256", "x": x, "y": x},
            {"kid": "ec384", "kty": "EC", "crv": "P-384", "x": x, "y": x},
            {"kid": "ed", "kty": "OKP", "crv": "Ed25519", "x": URL_SAFE_NO_PAD.encode(ed.as_bytes())},
            {"kty": "RSA", "n": "AQAB", "e": "AQAB"},
        ]});
        let keys = parse_jwks(&jwks);
        let mut algs: Vec<(&str, &str)> = keys.iter().map(|(k, v)| (k.as_str(), v.alg())).collect();
        algs.sort();
        assert_eq!(algs, [("ec", "ES256"), ("ed", "EdDSA"), ("r", "RS256"), ("r5", "RS512")]);
    }

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
