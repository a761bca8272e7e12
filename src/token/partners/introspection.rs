//! Opaque partner access tokens, checked at one issuer's RFC 7662 introspection endpoint.
//!
//! An opaque token goes to at most one issuer, chosen by configuration and never by asking
//! around: the issuer whose opaque-token prefix it starts with (the longest such prefix), else
//! the issuer configured with an empty prefix, else, when no prefix is configured and only
//! one issuer is trusted, that issuer. A token none of these claims is no partner token and
//! causes no request at all, so one issuer's tokens are never shown to another, and an issuer
//! that is down or misconfigured fails only the tokens routed to it. An active answer is
//! cached by the token's digest for at most [`Settings::introspection_cache`] and never past
//! the token's `exp`.
//!
//! [`Settings::introspection_cache`]: super::Settings::introspection_cache
use serde_json::Value;
use tokio::time::Instant;

use super::discovery::DiscoveryError;
use super::{Issuer, Issuers, PartnerError, PartnerToken, Settings};

impl Settings {
    /// Opaque-token prefixes that can be acted on: each names a trusted issuer, once; at most one
    /// is empty; and tessera has credentials to introspect with.
    pub fn check_opaque_prefixes(&self) -> anyhow::Result<()> {
        let (settings, prefixes) = (self, &self.opaque_prefixes);
        if !prefixes.is_empty() && settings.introspection.is_none() {
            anyhow::bail!(
                "--oauth-opaque-token-prefix needs --oauth-introspection-client-id and \
             --oauth-introspection-client-secret (opaque tokens are checked by introspection)"
            );
        }
        for (i, (issuer, _)) in prefixes.iter().enumerate() {
            if !settings.issuers.contains(issuer) {
                anyhow::bail!("--oauth-opaque-token-prefix names {issuer}, which is not an --oauth-issuer");
            }
            if prefixes[..i].iter().any(|(other, _)| other == issuer) {
                anyhow::bail!("--oauth-opaque-token-prefix names {issuer} twice: give each issuer one prefix");
            }
        }
        if prefixes.iter().filter(|(_, p)| p.is_empty()).count() > 1 {
            anyhow::bail!(
                "--oauth-opaque-token-prefix: only one issuer may take every unprefixed opaque token (ISSUER=)"
            );
        }
        Ok(())
    }
}

/// The most introspection answers kept at once (the cache is emptied when it is full).
const MAX_INTROSPECTED: usize = 10_000;

impl Issuers {
    /// The one issuer an opaque `token` may be sent to, if any.
    fn opaque_issuer(&self, token: &str) -> Option<&Issuer> {
        if self.settings.introspection.is_none() || token.starts_with(crate::auth::api_key::PREFIX) {
            return None;
        }
        let prefixed = self
            .issuers
            .iter()
            .filter_map(|i| Some((i, i.opaque_prefix.as_deref()?)))
            .filter(|(_, p)| !p.is_empty() && token.starts_with(p))
            .max_by_key(|(_, p)| p.len())
            .map(|(i, _)| i);
        if prefixed.is_some() {
            return prefixed;
        }
        if let Some(catch_all) = self.issuers.iter().find(|i| i.opaque_prefix.as_deref() == Some("")) {
            return Some(catch_all);
        }
        match self.issuers.as_slice() {
            [only] if only.opaque_prefix.is_none() => Some(only),
            _ => None,
        }
    }

    /// An opaque token, asked of the one issuer it is routed to, with tessera's client
    /// credentials: [`PartnerError::NotPartner`] when it is routed to none.
    pub(super) async fn introspect(&self, token: &str, now: i64) -> Result<PartnerToken, PartnerError> {
        let (Some(client), Some(issuer)) = (&self.settings.introspection, self.opaque_issuer(token)) else {
            return Err(PartnerError::NotPartner);
        };
        let digest: [u8; 32] = <sha2::Sha256 as sha2::Digest>::digest(token.as_bytes()).into();
        if let Some((found, until)) = self.cached(&digest)
            && now < until
        {
            return Ok(found);
        }
        let endpoint = {
            let mut keys = issuer.keys.lock().await;
            self.metadata(issuer, &mut keys).await?;
            if keys.retry_at.is_some_and(|at| Instant::now() < at) {
                return Err(PartnerError::Unavailable(issuer.url.clone()));
            }
            keys.introspection_endpoint.clone()
        };
        let Some(endpoint) = endpoint else {
            tracing::debug!(issuer = %issuer.url, "an opaque token is routed to an issuer with no introspection endpoint");
            return Err(PartnerError::NotPartner);
        };
        let answer = self
            .http
            .post(&endpoint)
            .basic_auth(&client.client_id, Some(client.secret.expose()))
            .form(&[("token", token), ("token_type_hint", "access_token")])
            .send()
            .await;
        let failure = match answer {
            Ok(resp) if resp.status().is_success() => match resp.bytes().await.map(|b| serde_json::from_slice(&b)) {
                Ok(Ok(claims)) => return self.answered(issuer, claims, digest, now),
                _ => anyhow::anyhow!("its introspection endpoint answered no JSON"),
            },
            Ok(resp) => anyhow::anyhow!("its introspection endpoint answered {}", resp.status()),
            Err(e) => anyhow::anyhow!("introspection failed: {}", e.without_url()),
        };
        let mut keys = issuer.keys.lock().await;
        Err(self.failed(issuer, &mut keys, &DiscoveryError::Unreachable(failure)))
    }

    /// The issuer's answer about a token: an active one checked like a JWT's claims, and cached.
    fn answered(
        &self,
        issuer: &Issuer,
        mut claims: Value,
        digest: [u8; 32],
        now: i64,
    ) -> Result<PartnerToken, PartnerError> {
        if claims["active"] != Value::Bool(true) {
            return Err(PartnerError::Invalid("inactive".into()));
        }
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
        Ok(verified)
    }

    fn cached(&self, digest: &[u8; 32]) -> Option<(PartnerToken, i64)> {
        self.introspected.lock().unwrap_or_else(|p| p.into_inner()).get(digest).cloned()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::token::partners::{ClientSecret, IntrospectionClient, Issuers, Settings};

    fn issuers(urls: &[&str], prefixes: &[(&str, &str)], introspection: bool) -> Issuers {
        let settings = Settings {
            issuers: urls.iter().map(|s| s.to_string()).collect(),
            audience: "aud".into(),
            client_claim: "c".into(),
            min_refetch: Duration::from_secs(1),
            timeout: Duration::from_secs(1),
            introspection: introspection.then(|| IntrospectionClient {
                client_id: "tessera".into(),
                secret: ClientSecret::from_arg("s").expect("secret"),
            }),
            opaque_prefixes: prefixes.iter().map(|(i, p)| (i.to_string(), p.to_string())).collect(),
            introspection_cache: Duration::from_secs(60),
            require_at_jwt: false,
        };
        Issuers::new(settings).expect("issuers")
    }

    fn routed<'a>(issuers: &'a Issuers, token: &str) -> Option<&'a str> {
        issuers.opaque_issuer(token).map(|i| i.url.as_str())
    }

    #[test]
    fn an_opaque_token_goes_to_one_issuer_chosen_by_configuration() {
        let (a, b, c) = ("https://a.example", "https://b.example", "https://c.example");
        // One issuer, no prefix: that issuer; never an API key; nothing without credentials.
        let one = issuers(&[a], &[], true);
        assert_eq!(routed(&one, "anything"), Some(a));
        assert_eq!(routed(&one, "tsk_abc_def"), None);
        assert_eq!(routed(&issuers(&[a], &[], false), "anything"), None);
        // Several, no prefix: none at all (never broadcast).
        assert_eq!(routed(&issuers(&[a, b], &[], true), "anything"), None);
        // Prefixes: the longest match; an unmatched token goes nowhere.
        let prefixed = issuers(&[a, b, c], &[(a, "at_"), (b, "at_b_")], true);
        assert_eq!(routed(&prefixed, "at_xyz"), Some(a));
        assert_eq!(routed(&prefixed, "at_b_xyz"), Some(b));
        assert_eq!(routed(&prefixed, "junk"), None);
        // A single issuer with a prefix takes only its own.
        assert_eq!(routed(&issuers(&[a], &[(a, "ory_at_")], true), "junk"), None);
        // An empty prefix: the issuer of every opaque token no prefix claims.
        let catch_all = issuers(&[a, b], &[(a, "at_"), (b, "")], true);
        assert_eq!(routed(&catch_all, "at_1"), Some(a));
        assert_eq!(routed(&catch_all, "junk"), Some(b));
    }

    #[test]
    fn prefixes_must_name_trusted_issuers_once_and_need_credentials() {
        let (a, b) = ("https://a.example", "https://b.example");
        let check = |prefixes: &[(&str, &str)], introspection: bool| {
            issuers(&[a, b], prefixes, introspection).settings().check_opaque_prefixes().map_err(|e| e.to_string())
        };
        assert!(check(&[(a, "at_"), (b, "")], true).is_ok());
        assert!(check(&[], false).is_ok());
        let refused = [
            (check(&[(a, "at_")], false), "needs --oauth-introspection-client-id"),
            (check(&[("https://c.example", "at_")], true), "not an --oauth-issuer"),
            (check(&[(a, "at_"), (a, "x_")], true), "twice"),
            (check(&[(a, ""), (b, "")], true), "only one issuer"),
        ];
        for (result, why) in refused {
            assert!(result.as_ref().is_err_and(|e| e.contains(why)), "{result:?}: {why}");
        }
    }
}
