//! What tessera fetches from a trusted issuer: its metadata (RFC 8414, else OpenID Connect
//! discovery) and its JWKS, read into keys pinned to one algorithm each.
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

use crate::token::verify::{RsaAlg, VerifyKey};

/// Why an issuer's metadata could not be used.
#[derive(Debug)]
pub(crate) enum DiscoveryError {
    /// The metadata was found, but names another `issuer` than the one configured (a typo in
    /// the configured URL, a trailing `/`, a proxy rewriting the host).
    Mismatch { found: String },
    /// No metadata could be fetched.
    Unreachable(anyhow::Error),
}

impl std::fmt::Display for DiscoveryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DiscoveryError::Mismatch { found } => write!(f, "its metadata names another issuer, {found:?}"),
            DiscoveryError::Unreachable(e) => write!(f, "{e:#}"),
        }
    }
}

/// An issuer's metadata: RFC 8414's well-known URL (inserted before the issuer's path), else
/// OpenID Connect discovery (appended to it). The document must name the issuer itself.
pub(crate) async fn discover(http: &reqwest::Client, issuer: &str) -> Result<Value, DiscoveryError> {
    let url = url::Url::parse(issuer).map_err(|e| DiscoveryError::Unreachable(e.into()))?;
    let path = url.path().trim_end_matches('/');
    let origin = url.origin().ascii_serialization();
    let candidates = [
        format!("{origin}/.well-known/oauth-authorization-server{path}"),
        format!("{}/.well-known/openid-configuration", issuer.trim_end_matches('/')),
    ];
    let mut last = DiscoveryError::Unreachable(anyhow::anyhow!("no metadata"));
    for candidate in candidates {
        match get_json(http, &candidate).await {
            Ok((doc, _)) if doc["issuer"].as_str() == Some(issuer) => return Ok(doc),
            Ok((doc, _)) => {
                let found = doc["issuer"].as_str().unwrap_or("(none)").chars().take(200).collect();
                last = DiscoveryError::Mismatch { found };
            }
            // A mismatch found at one place is the more useful thing to say.
            Err(e) if !matches!(last, DiscoveryError::Mismatch { .. }) => last = DiscoveryError::Unreachable(e),
            Err(_) => {}
        }
    }
    Err(last)
}

/// A JSON document and its `Cache-Control: max-age`.
pub(crate) async fn get_json(http: &reqwest::Client, url: &str) -> anyhow::Result<(Value, Option<Duration>)> {
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
/// JWK states one, else the one its type allows (RS256, ES256, EdDSA). An Ed25519 key may
/// name its algorithm `EdDSA` or, fully specified (RFC 9864), `Ed25519`. Encryption keys,
/// keys without a `kid` and keys of other types are left out.
pub(crate) fn parse_jwks(jwks: &Value) -> HashMap<String, Arc<VerifyKey>> {
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
            (Some("OKP"), None | Some("EdDSA" | "Ed25519")) if jwk["crv"] == "Ed25519" => {
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
        let ed_x = URL_SAFE_NO_PAD.encode(ed.as_bytes());
        let jwks = serde_json::json!({"keys": [
            {"kid": "r", "kty": "RSA", "n": "AQAB", "e": "AQAB"},
            {"kid": "r5", "kty": "RSA", "alg": "RS512", "n": "AQAB", "e": "AQAB"},
            {"kid": "ps", "kty": "RSA", "alg": "PS256", "n": "AQAB", "e": "AQAB"},
            {"kid": "enc", "kty": "RSA", "use": "enc", "n": "AQAB", "e": "AQAB"},
            {"kid": "ec", "kty": "EC", "crv": "P-256", "x": x, "y": x},
            {"kid": "ec384", "kty": "EC", "crv": "P-384", "x": x, "y": x},
            {"kid": "ed", "kty": "OKP", "crv": "Ed25519", "x": ed_x},
            {"kid": "ed-rfc9864", "kty": "OKP", "crv": "Ed25519", "alg": "Ed25519", "x": ed_x},
            {"kid": "ed448", "kty": "OKP", "crv": "Ed448", "alg": "Ed448", "x": ed_x},
            {"kty": "RSA", "n": "AQAB", "e": "AQAB"},
        ]});
        let keys = parse_jwks(&jwks);
        let mut algs: Vec<(&str, &str)> = keys.iter().map(|(k, v)| (k.as_str(), v.alg())).collect();
        algs.sort();
        assert_eq!(algs, [("ec", "ES256"), ("ed", "EdDSA"), ("ed-rfc9864", "EdDSA"), ("r", "RS256"), ("r5", "RS512")]);
    }
}
