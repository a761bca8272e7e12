//! A verifier for resource servers: fetches tessera's JWKS, caches it for the served
//! `max-age`, and refetches (at most once per `min_refetch`) when a token names an unknown
//! `kid`, so a rotation is picked up without letting forged kids hammer the JWKS endpoint.
//!
//! ```no_run
//! # async fn demo(token: &str) -> anyhow::Result<()> {
//! use tessera::token::verifier::{HttpJwks, Verifier};
//! let verifier = Verifier::new(HttpJwks::new("https://tessera.example.com/.well-known/jwks.json")?, Default::default());
//! let claims = verifier.verify(token).await?;
//! println!("token for connection {}", claims.sub);
//! # Ok(()) }
//! ```
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::claims::Claims;
use super::verify::{Expectations, Jwks, VerifyError, verify};

/// Where a key set comes from.
#[async_trait]
pub trait JwksSource: Send + Sync {
    /// The key set, and how long it may be cached.
    async fn fetch(&self) -> anyhow::Result<(Jwks, Duration)>;
}

/// A JWKS served over HTTPS (the usual case, with the usual root certificates) or plain
/// HTTP (tessera behind a TLS-terminating proxy, or on a private network). Honours
/// `Cache-Control: max-age`.
pub struct HttpJwks {
    url: reqwest::Url,
    client: reqwest::Client,
}

impl HttpJwks {
    pub fn new(url: &str) -> anyhow::Result<Self> {
        let parsed =
            reqwest::Url::parse(url).ok().filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
        let Some(url) = parsed else {
            anyhow::bail!("the JWKS URL must be https://HOST[:PORT]/PATH (or http://), got {url}");
        };
        let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build()?;
        Ok(Self { url, client })
    }
}

#[async_trait]
impl JwksSource for HttpJwks {
    async fn fetch(&self) -> anyhow::Result<(Jwks, Duration)> {
        let resp = self.client.get(self.url.clone()).send().await.map_err(|e| anyhow::anyhow!(e.without_url()))?;
        if !resp.status().is_success() {
            anyhow::bail!("the JWKS endpoint answered {}", resp.status());
        }
        let max_age = resp
            .headers()
            .get(reqwest::header::CACHE_CONTROL)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').find_map(|d| d.trim().strip_prefix("max-age=")?.parse::<u64>().ok()))
            .map_or(Duration::from_secs(300), Duration::from_secs);
        let body = resp.bytes().await?;
        Ok((serde_json::from_slice(&body)?, max_age))
    }
}

/// Settings for a [`Verifier`].
#[derive(Clone, Debug)]
pub struct VerifierOptions {
    pub expect: Expectations,
    /// The least time between two refetches caused by unknown kids.
    pub min_refetch: Duration,
}

impl Default for VerifierOptions {
    fn default() -> Self {
        Self { expect: Expectations::default(), min_refetch: Duration::from_secs(30) }
    }
}

/// Why a token was refused, or could not be checked.
///
/// Each variant's message states its cause itself and names no `source`, so an error chain
/// (`{:#}`) says each thing once.
#[derive(Debug, thiserror::Error)]
pub enum VerifierError {
    #[error("token refused: {0}")]
    Refused(VerifyError),
    #[error("could not fetch the JWKS: {0:#}")]
    Fetch(anyhow::Error),
}

impl From<VerifyError> for VerifierError {
    fn from(e: VerifyError) -> Self {
        VerifierError::Refused(e)
    }
}

struct Cache {
    jwks: Jwks,
    expires: Instant,
    last_fetch: Instant,
}

/// Verifies connection tokens against a cached JWKS.
pub struct Verifier<S> {
    source: S,
    options: VerifierOptions,
    cache: Mutex<Option<Cache>>,
}

impl<S: JwksSource> Verifier<S> {
    pub fn new(source: S, options: VerifierOptions) -> Self {
        Self { source, options, cache: Mutex::new(None) }
    }

    pub async fn verify(&self, token: &str) -> Result<Claims, VerifierError> {
        let now_secs =
            || std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
        let mut cache = self.cache.lock().await;
        let now = Instant::now();
        if cache.as_ref().is_none_or(|c| c.expires <= now) {
            *cache = Some(self.fetch(now).await?);
        }
        let current =
            cache.as_ref().map(|c| &c.jwks).ok_or_else(|| VerifierError::Fetch(anyhow::anyhow!("no keys")))?;
        match verify(token, current, &self.options.expect, now_secs()) {
            Err(VerifyError::UnknownKid(kid)) => {
                // Perhaps a key published after our copy: refetch, but not more often than allowed.
                let may_refetch =
                    cache.as_ref().is_some_and(|c| now.duration_since(c.last_fetch) >= self.options.min_refetch);
                if !may_refetch {
                    return Err(VerifyError::UnknownKid(kid).into());
                }
                let fresh = self.fetch(now).await?;
                let result = verify(token, &fresh.jwks, &self.options.expect, now_secs());
                *cache = Some(fresh);
                Ok(result?)
            }
            other => Ok(other?),
        }
    }

    async fn fetch(&self, now: Instant) -> Result<Cache, VerifierError> {
        let (jwks, max_age) = self.source.fetch().await.map_err(VerifierError::Fetch)?;
        Ok(Cache { jwks, expires: now + max_age, last_fetch: now })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    use super::*;
    use crate::crypto::kek::Kek;
    use crate::token::keyring::{Algorithm, KeyState, Signer, new_key_record};
    use crate::token::verify::Jwk;

    #[test]
    fn an_error_chain_says_each_cause_once() {
        let refused = anyhow::Error::from(VerifierError::from(VerifyError::UnknownKid("X".into())));
        assert_eq!(format!("{refused:#}"), "token refused: unknown key id \"X\"");
        let fetch = VerifierError::Fetch(anyhow::anyhow!("refused").context("GET http://jwks"));
        assert_eq!(format!("{:#}", anyhow::Error::from(fetch)), "could not fetch the JWKS: GET http://jwks: refused");
    }

    struct Fake {
        keys: std::sync::Mutex<Vec<Jwk>>,
        fetches: Arc<AtomicUsize>,
    }

    #[async_trait]
    impl JwksSource for Fake {
        async fn fetch(&self) -> anyhow::Result<(Jwks, Duration)> {
            self.fetches.fetch_add(1, Ordering::SeqCst);
            Ok((Jwks { keys: self.keys.lock().expect("lock").clone() }, Duration::from_secs(300)))
        }
    }

    fn key() -> (Signer, Jwk) {
        let kek = Kek::generate();
        let rec = new_key_record(Algorithm::EdDsa, &kek, KeyState::Active, 0);
        let jwk = Jwk {
            kid: rec.kid.to_string(),
            kty: "OKP".into(),
            crv: Some("Ed25519".into()),
            x: Some(URL_SAFE_NO_PAD.encode(rec.public_key.as_ref().expect("public"))),
            alg: Some("EdDSA".into()),
        };
        (Signer::from_record(&rec, &kek).expect("signer"), jwk)
    }

    fn token(signer: &Signer) -> String {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("time").as_secs() as i64;
        signer.sign(&Claims {
            iss: "tessera".into(),
            aud: "subtotal".into(),
            sub: "c".into(),
            client_id: "k".into(),
            customer_id: "u".into(),
            scope: "access".into(),
            iat: now,
            nbf: now,
            exp: now + 900,
            jti: "j".into(),
        })
    }

    #[tokio::test(start_paused = true)]
    async fn caches_for_max_age_and_refetches_rate_limited_on_unknown_kids() {
        let (old, old_jwk) = key();
        let (new, new_jwk) = key();
        let fetches = Arc::new(AtomicUsize::new(0));
        let source = Fake { keys: std::sync::Mutex::new(vec![old_jwk.clone()]), fetches: fetches.clone() };
        let verifier = Verifier::new(source, VerifierOptions::default());
        let count = || fetches.load(Ordering::SeqCst);

        verifier.verify(&token(&old)).await.expect("verifies");
        verifier.verify(&token(&old)).await.expect("verifies");
        assert_eq!(count(), 1, "cached");

        // A rotation: the new key is published; within min_refetch an unknown kid is refused
        // without a fetch, after it one refetch picks the new key up.
        verifier.source.keys.lock().expect("lock").push(new_jwk);
        assert!(matches!(verifier.verify(&token(&new)).await, Err(VerifierError::Refused(VerifyError::UnknownKid(_)))));
        assert_eq!(count(), 1, "refetch is rate-limited");
        tokio::time::advance(Duration::from_secs(31)).await;
        verifier.verify(&token(&new)).await.expect("picked up after a refetch");
        assert_eq!(count(), 2);
        // Forged kids cannot make it fetch again and again.
        let (forged, _) = key();
        for _ in 0..5 {
            assert!(verifier.verify(&token(&forged)).await.is_err());
        }
        assert_eq!(count(), 2);
        // After max-age the set is refetched anyway.
        tokio::time::advance(Duration::from_secs(301)).await;
        verifier.verify(&token(&old)).await.expect("verifies");
        assert_eq!(count(), 3);
    }
}
