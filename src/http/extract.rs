//! Extractors: the authenticated caller, a connection token presented beside its key, and
//! the connection id in the path.
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use axum::extract::{ConnectInfo, FromRequestParts, Path};
use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use super::error::ApiError;
use crate::auth::api_key::PlainApiKey;
use crate::domain::ids::{ApiKeyId, ClientId, ConnectionId, ConnectorId};
use crate::rate_limit::Decision;
use crate::service::AppState;
use crate::token::partners::{Access, PartnerError, PartnerToken};

/// Who is calling: the client an API key belongs to, and the key; or a partner app's access
/// token, the client it acts for, and the credential record of the operator's grant (which
/// stands in for the key everywhere: rate limits, the activity log, token issuance).
#[derive(Clone, Debug)]
pub(crate) struct Caller {
    pub client_id: ClientId,
    pub api_key_id: ApiKeyId,
    /// Whether the key was found in the in-process cache rather than read just now.
    pub cached: bool,
    /// The partner app's verified token, when the caller is one.
    pub partner: Option<std::sync::Arc<PartnerToken>>,
}

impl Caller {
    /// The token's scopes for a partner app; `None` for an API key, which is unscoped.
    pub(crate) fn scopes(&self) -> Option<&[String]> {
        self.partner.as_ref().map(|p| p.scopes.as_slice())
    }
}

pub(crate) const MISSING: &str = "Not authenticated: send an API key in the X-Api-Key header";
pub(crate) const INVALID: &str = "Invalid API key";

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        admit(parts, state, false).await
    }
}

/// A caller of a route that takes an `access` connection token beside the API key (the
/// purchase reads, tessera's own routes). A request that sends the token alone, with no
/// `X-Api-Key`, is told that the key is missing, not that the token is an invalid key.
pub(crate) struct KeyBesideToken(pub Caller);

const MISSING_BESIDE_TOKEN: &str = "Not authenticated: send an API key in the X-Api-Key header (Authorization: \
                                    Bearer carries the connection token on this route, beside the key)";

impl FromRequestParts<AppState> for KeyBesideToken {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        match admit(parts, state, false).await {
            Err(ApiError::Unauthorized(INVALID)) if token_without_key(&parts.headers) => {
                Err(ApiError::Unauthorized(MISSING_BESIDE_TOKEN))
            }
            other => other.map(KeyBesideToken),
        }
    }
}

/// No `X-Api-Key`, and `Authorization: Bearer` holds something shaped like a connection token
/// (three dot-separated parts) rather than a key.
fn token_without_key(headers: &HeaderMap) -> bool {
    let key_sent = headers.get("x-api-key").is_some_and(|v| !v.as_bytes().trim_ascii().is_empty());
    !key_sent && presented_key(headers).is_some_and(|t| t.split('.').count() == 3)
}

/// A caller authenticated from the API key cache when it can be, for the token endpoint,
/// whose issuance transaction checks the key again before any token leaves. A handler must
/// call [`Caller::confirm`] before any answer that transaction does not guard.
pub(crate) struct CachedCaller(pub Caller);

impl FromRequestParts<AppState> for CachedCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        admit(parts, state, true).await.map(CachedCaller)
    }
}

impl Caller {
    /// Re-reads a cached caller's key from the database: `401` if it was revoked since.
    pub(crate) async fn confirm(&self, state: &AppState) -> Result<(), ApiError> {
        if !self.cached {
            return Ok(());
        }
        match state.core.keys().find(&self.api_key_id).await? {
            Some(record) if record.revoked_at.is_none() => Ok(()),
            _ => {
                state.key_cache.remove(&self.api_key_id);
                Err(ApiError::Unauthorized(INVALID))
            }
        }
    }
}

/// Refuses an address that failed to authenticate too often, before its key is even looked at.
async fn peer_allowed(state: &AppState, peer: Option<IpAddr>, now: Instant) -> Result<(), ApiError> {
    let Some(ip) = peer else { return Ok(()) };
    if let Decision::Limited { retry_after_secs } = state.limits.auth_failures.peek(&ip, now).await {
        state.metrics.rate_limited();
        return Err(ApiError::RateLimited { retry_after_secs, limit: state.limits.auth_failures.burst() });
    }
    Ok(())
}

/// Counts a failed authentication against its address.
async fn failed(state: &AppState, peer: Option<IpAddr>, now: Instant) {
    state.metrics.auth_failed();
    if let Some(ip) = peer {
        state.limits.auth_failures.take(&ip, now).await;
    }
}

pub(crate) fn peer_of(parts: &Parts) -> Option<IpAddr> {
    parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip())
}

/// Whether the request presents a key this process already knows to be live (the live-key
/// cache holds it, and the secret matches): such a key is let through an address that others
/// behind it (a shared NAT or proxy) have spent on failed guesses. A guess is never in the
/// cache, so it learns nothing; the key is still checked as usual after this.
fn known_live(presented: Option<&str>, state: &AppState) -> bool {
    let Some(presented) = presented else { return false };
    let Some((id, key)) = PlainApiKey::parse(presented) else { return false };
    state.key_cache.get(&id).is_some_and(|r| r.revoked_at.is_none() && r.digest.matches(&key.digest()))
}

/// Authenticates a request and applies the rate limits; a partner app must also hold the
/// scope the route needs (checked here, before the body is read).
pub(crate) async fn admit(parts: &Parts, state: &AppState, use_cache: bool) -> Result<Caller, ApiError> {
    let presented = presented_key(&parts.headers);
    let peer = peer_of(parts);
    // A bearer token (no X-Api-Key) that is a trusted issuer's JWT, or an opaque token routed
    // to one, is a partner's; anything else, an API key sent as a bearer token included, goes
    // on as a key.
    if let (Some(partners), Some(token)) = (&state.partners, presented.as_deref())
        && parts.headers.get("x-api-key").is_none_or(|v| v.as_bytes().iter().all(u8::is_ascii_whitespace))
        && !token.starts_with(crate::auth::api_key::PREFIX)
    {
        // An address that keeps failing is held back before any issuer is asked anything.
        peer_allowed(state, peer, Instant::now()).await?;
        match partners.verify(token, state.clock.now()).await {
            Err(PartnerError::NotPartner) => {}
            Err(PartnerError::Unavailable(_)) => return Err(ApiError::IssuerUnavailable),
            Err(PartnerError::Invalid(why)) => {
                tracing::info!(reason = %why, "a partner access token was refused");
                let now = Instant::now();
                peer_allowed(state, peer, now).await?;
                failed(state, peer, now).await;
                return Err(ApiError::Unauthorized(INVALID_ACCESS_TOKEN));
            }
            Ok(token) => return admit_partner(parts, state, peer, token).await,
        }
    }
    admit_key(state, peer, presented.as_deref(), None, use_cache).await
}

pub(crate) const INVALID_ACCESS_TOKEN: &str = "Invalid access token";
const PARTNER_NOT_ALLOWED: &str = "This partner app is not allowed to act for this client";

/// A partner app's verified token: the route's scope, then the operator's grant for the
/// client it names, then the rate limit of the grant's credential record.
async fn admit_partner(
    parts: &Parts,
    state: &AppState,
    peer: Option<IpAddr>,
    token: PartnerToken,
) -> Result<Caller, ApiError> {
    let now = Instant::now();
    peer_allowed(state, peer, now).await?;
    // The route's requirement, from the route table (see `http::router_with`).
    match parts.extensions.get::<Access>().copied().unwrap_or(Access::ApiKeyOnly) {
        Access::ApiKeyOnly => {
            return Err(ApiError::Forbidden("This route takes an API key, not a partner access token"));
        }
        Access::Scope(needed) if !token.scopes.iter().any(|s| s == needed) => {
            return Err(ApiError::InsufficientScope(needed));
        }
        _ => {}
    }
    let client = ClientId::from_string(token.client_id.clone());
    let grant = state
        .core
        .partners()
        .find(&token.issuer, &token.partner_client_id, &client)
        .await?
        .ok_or(ApiError::Forbidden(PARTNER_NOT_ALLOWED))?;
    if let Decision::Limited { retry_after_secs } = state.limits.per_key.take(&grant.api_key_id, now).await {
        state.metrics.rate_limited();
        return Err(ApiError::RateLimited { retry_after_secs, limit: state.limits.per_key.burst() });
    }
    note_use(state, &grant.api_key_id);
    Ok(Caller { client_id: grant.client_id, api_key_id: grant.api_key_id, cached: false, partner: Some(token.into()) })
}

/// Authenticates the API key `presented` (`None`: none was sent), with the rate limits:
/// when `client` is given, the key must also be one of that client's (a client id and an API
/// key as its secret, as OAuth client authentication sends them).
pub(crate) async fn admit_key(
    state: &AppState,
    peer: Option<IpAddr>,
    presented: Option<&str>,
    client: Option<&str>,
    use_cache: bool,
) -> Result<Caller, ApiError> {
    let now = Instant::now();
    // A key known to be live is not held back by its address (checked first: it costs no
    // round trip to a shared store).
    if !known_live(presented, state) {
        peer_allowed(state, peer, now).await?;
    }
    let authenticated = authenticate(state, presented, use_cache).await.and_then(|c| {
        if client.is_none_or(|id| id == c.client_id.as_str()) { Ok(c) } else { Err(ApiError::Unauthorized(INVALID)) }
    });
    let caller = match authenticated {
        Err(e @ ApiError::Unauthorized(_)) => {
            failed(state, peer, now).await;
            return Err(e);
        }
        other => other?,
    };
    if let Decision::Limited { retry_after_secs } = state.limits.per_key.take(&caller.api_key_id, now).await {
        state.metrics.rate_limited();
        return Err(ApiError::RateLimited { retry_after_secs, limit: state.limits.per_key.burst() });
    }
    note_use(state, &caller.api_key_id);
    Ok(caller)
}

/// Records the key's use (shown in the console), in the background and at most once a minute.
fn note_use(state: &AppState, id: &ApiKeyId) {
    let at = state.clock.now();
    if state.key_usage.due(id, at) {
        let (core, id) = (state.core.clone(), id.clone());
        tokio::spawn(async move {
            if let Err(e) = core.keys().note_used(&id, at).await {
                tracing::debug!(error = %crate::telemetry::Chain(&e), "could not note an API key's use");
            }
        });
    }
}

/// The operator's connector service, authenticated by a connector credential (`tsc_...`)
/// in `X-Api-Key` or `Authorization: Bearer`. A client's API key is no connector credential.
#[derive(Clone, Debug)]
pub(crate) struct Connector {
    pub id: ConnectorId,
}

const INVALID_CONNECTOR: &str = "Invalid connector credential";

impl FromRequestParts<AppState> for Connector {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let now = Instant::now();
        let peer = peer_of(parts);
        peer_allowed(state, peer, now).await?;
        let found = async {
            let presented = presented_key(&parts.headers).ok_or(ApiError::Unauthorized(MISSING_CONNECTOR))?;
            let (id, key) =
                PlainApiKey::parse_connector(&presented).ok_or(ApiError::Unauthorized(INVALID_CONNECTOR))?;
            let record = state.core.connectors().find(&id).await?.ok_or(ApiError::Unauthorized(INVALID_CONNECTOR))?;
            if !record.digest.matches(&key.digest()) || record.revoked_at.is_some() {
                return Err(ApiError::Unauthorized(INVALID_CONNECTOR));
            }
            Ok(Connector { id })
        };
        match found.await {
            Err(e @ ApiError::Unauthorized(_)) => {
                failed(state, peer, now).await;
                Err(e)
            }
            other => other,
        }
    }
}

const MISSING_CONNECTOR: &str = "Not authenticated: send a connector credential in the X-Api-Key header";

async fn authenticate(state: &AppState, presented: Option<&str>, use_cache: bool) -> Result<Caller, ApiError> {
    let presented = presented.ok_or(ApiError::Unauthorized(MISSING))?;
    let (id, key) = PlainApiKey::parse(presented).ok_or(ApiError::Unauthorized(INVALID))?;
    let cached = if use_cache { state.key_cache.get(&id) } else { None };
    let from_cache = cached.is_some();
    let record = match cached {
        Some(record) => record,
        None => {
            let record = state.core.keys().find(&id).await?.ok_or(ApiError::Unauthorized(INVALID))?;
            state.key_cache.insert(&record);
            record
        }
    };
    if !record.digest.matches(&key.digest()) || record.revoked_at.is_some() {
        return Err(ApiError::Unauthorized(INVALID));
    }
    Ok(Caller { client_id: record.client_id, api_key_id: record.id, cached: from_cache, partner: None })
}

/// The API key a request presents: `X-Api-Key` first, else `Authorization: Bearer <key>`
/// (also the documented `Bearer: <key>`, scheme in any case). Empty values count as absent.
pub(crate) fn presented_key(headers: &HeaderMap) -> Option<String> {
    let text = |name| headers.get(name).map(|v: &axum::http::HeaderValue| latin1(v.as_bytes()));
    if let Some(k) = text("x-api-key").map(|k| k.trim().to_owned()).filter(|k| !k.is_empty()) {
        return Some(k);
    }
    let auth = text("authorization")?;
    let auth = auth.trim();
    let (scheme, rest) = auth.split_at_checked(6)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let rest = match rest.strip_prefix(':') {
        Some(after_colon) => after_colon,
        None if rest.starts_with([' ', '\t']) => rest,
        None => return None,
    };
    Some(rest.trim().to_owned()).filter(|k| !k.is_empty())
}

fn latin1(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| b as char).collect()
}

/// The `{connection_id}` path segment, as an id tessera could have made. Any other segment
/// (undecodable, the wrong length or characters, a NUL byte) names no connection: it is
/// refused here, exactly like an unknown id, and never reaches the database.
pub(crate) struct ConnectionPath(pub ConnectionId);

impl<S: Send + Sync> FromRequestParts<S> for ConnectionPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let not_found = || ApiError::ConnectionNotFound;
        let Path(id) = Path::<String>::from_request_parts(parts, state).await.map_err(|_| not_found())?;
        let id = ConnectionId::from_string(id);
        if !id.is_well_formed() {
            return Err(not_found());
        }
        Ok(ConnectionPath(id))
    }
}

/// When a connection token is sent beside the API key, it must be a live token of the key's
/// client for connection `id`.
pub(crate) async fn check_connection_token(
    app: &AppState,
    caller: &Caller,
    id: &ConnectionId,
    headers: &HeaderMap,
) -> Result<(), ApiError> {
    if let Some(token) = connection_token(headers) {
        let claims = app.core.tokens().live(&caller.client_id, &token).await?;
        if claims.is_none_or(|c| c.sub != id.as_str()) {
            return Err(ApiError::Unauthorized("Invalid connection token"));
        }
    }
    Ok(())
}

/// A connection token sent beside an API key: `Authorization: Bearer <JWS>` when
/// `X-Api-Key` is also present.
pub(crate) fn connection_token(headers: &HeaderMap) -> Option<String> {
    headers.get("x-api-key").filter(|v| !v.is_empty())?;
    let mut only_auth = HeaderMap::new();
    only_auth.insert(AUTHORIZATION, headers.get(AUTHORIZATION)?.clone());
    presented_key(&only_auth).filter(|t| t.split('.').count() == 3)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(pairs: &[(&'static str, &'static str)]) -> Option<String> {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().expect("header"));
        }
        presented_key(&h)
    }

    #[test]
    fn credential_forms() {
        assert_eq!(key(&[("x-api-key", "k1")]).as_deref(), Some("k1"));
        assert_eq!(key(&[("authorization", "Bearer k2")]).as_deref(), Some("k2"));
        assert_eq!(key(&[("authorization", "bearer k2")]).as_deref(), Some("k2"));
        assert_eq!(key(&[("authorization", "Bearer: k3")]).as_deref(), Some("k3"));
        assert_eq!(key(&[("authorization", "BEARER:k3")]).as_deref(), Some("k3"));
        assert_eq!(key(&[("x-api-key", "k1"), ("authorization", "Bearer k2")]).as_deref(), Some("k1"));
        assert_eq!(key(&[("x-api-key", " "), ("authorization", "Bearer k2")]).as_deref(), Some("k2"));
        assert_eq!(key(&[("authorization", "Basic abc")]), None);
        assert_eq!(key(&[("authorization", "Bearerk")]), None);
        assert_eq!(key(&[("authorization", "Bearer ")]), None);
        assert_eq!(key(&[]), None);
    }
}
