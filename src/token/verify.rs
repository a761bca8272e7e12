//! Verifying connection tokens against a JWKS, as a resource server does.
//!
//! The algorithm is pinned by the key, never taken from the token: a token whose header names
//! another algorithm than its key's (`none`, `HS256` against an Ed25519 key, ...) is refused.
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use serde::Deserialize;

use super::claims::Claims;

/// Seconds of clock skew tolerated on `exp` and `nbf`.
pub const LEEWAY_SECS: i64 = 60;

/// Why a token is refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VerifyError {
    #[error("not a compact JWS (three base64url parts)")]
    Malformed,
    #[error("the token names no key (kid)")]
    NoKid,
    #[error("unknown key id {0:?}")]
    UnknownKid(String),
    #[error("algorithm {0:?} is not the key's algorithm")]
    WrongAlgorithm(String),
    #[error("bad signature")]
    BadSignature,
    #[error("expired")]
    Expired,
    #[error("not valid yet")]
    NotYetValid,
    #[error("wrong issuer")]
    WrongIssuer,
    #[error("wrong audience")]
    WrongAudience,
    #[error("malformed claims")]
    BadClaims,
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    kid: Option<String>,
}

/// One public key from a JWKS.
#[derive(Clone, Debug, Deserialize)]
pub struct Jwk {
    pub kid: String,
    pub kty: String,
    #[serde(default)]
    pub crv: Option<String>,
    #[serde(default)]
    pub x: Option<String>,
    #[serde(default)]
    pub alg: Option<String>,
}

/// A JSON Web Key Set.
#[derive(Clone, Debug, Deserialize)]
pub struct Jwks {
    pub keys: Vec<Jwk>,
}

/// What a verified token must also satisfy.
#[derive(Clone, Debug, Default)]
pub struct Expectations {
    pub issuer: Option<String>,
    pub audience: Option<String>,
    /// Expired means expired: no leeway on `exp` (RFC 7662's `active`, and what jose and
    /// PyJWT do by default). Otherwise [`LEEWAY_SECS`] of clock skew are allowed.
    pub strict_expiry: bool,
}

/// A key that can check a signature, with its algorithm pinned.
pub enum VerifyKey {
    Ed(ed25519_dalek::VerifyingKey),
    Hs(hmac::Hmac<sha2::Sha256>),
    /// An RSA public key (modulus and exponent, big-endian) for RS256, RS384 or RS512: an
    /// authorization server's key.
    Rsa {
        n: Vec<u8>,
        e: Vec<u8>,
        alg: RsaAlg,
    },
    /// A P-256 public key (the uncompressed point) for ES256.
    Es256(Vec<u8>),
}

/// The RSA algorithms an authorization server's key may be pinned to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RsaAlg {
    Rs256,
    Rs384,
    Rs512,
}

impl VerifyKey {
    /// The one algorithm this key verifies.
    pub fn alg(&self) -> &'static str {
        match self {
            VerifyKey::Ed(_) => "EdDSA",
            VerifyKey::Hs(_) => "HS256",
            VerifyKey::Rsa { alg: RsaAlg::Rs256, .. } => "RS256",
            VerifyKey::Rsa { alg: RsaAlg::Rs384, .. } => "RS384",
            VerifyKey::Rsa { alg: RsaAlg::Rs512, .. } => "RS512",
            VerifyKey::Es256(_) => "ES256",
        }
    }

    /// Whether a token's header `alg` names this key's algorithm: its [`VerifyKey::alg`], or
    /// for an Ed25519 key also the fully-specified `Ed25519` of RFC 9864.
    pub fn accepts(&self, alg: &str) -> bool {
        alg == self.alg() || (matches!(self, VerifyKey::Ed(_)) && alg == "Ed25519")
    }

    fn check(&self, signing_input: &[u8], signature: &[u8]) -> bool {
        use aws_lc_rs::signature as sig;
        match self {
            VerifyKey::Ed(key) => ed25519_dalek::Signature::from_slice(signature)
                .is_ok_and(|sig| key.verify_strict(signing_input, &sig).is_ok()),
            VerifyKey::Hs(mac) => {
                use hmac::Mac as _;
                let mut mac = mac.clone();
                mac.update(signing_input);
                mac.verify_slice(signature).is_ok()
            }
            VerifyKey::Rsa { n, e, alg } => {
                let params = match alg {
                    RsaAlg::Rs256 => &sig::RSA_PKCS1_2048_8192_SHA256,
                    RsaAlg::Rs384 => &sig::RSA_PKCS1_2048_8192_SHA384,
                    RsaAlg::Rs512 => &sig::RSA_PKCS1_2048_8192_SHA512,
                };
                sig::RsaPublicKeyComponents { n: n.as_slice(), e: e.as_slice() }
                    .verify(params, signing_input, signature)
                    .is_ok()
            }
            VerifyKey::Es256(point) => sig::UnparsedPublicKey::new(&sig::ECDSA_P256_SHA256_FIXED, point)
                .verify(signing_input, signature)
                .is_ok(),
        }
    }
}

/// A compact JWS's header, payload and signature checked with the key `find_key` returns
/// for its `kid` (`None`: an unknown kid), the algorithm pinned by that key: the payload's
/// bytes. Claims are the caller's to check.
pub fn verified_payload<K>(
    token: &str,
    find_key: impl FnOnce(&str) -> Option<Result<K, VerifyError>>,
) -> Result<Vec<u8>, VerifyError>
where
    K: std::borrow::Borrow<VerifyKey>,
{
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(VerifyError::Malformed);
    };
    let header: Header = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(h).map_err(|_| VerifyError::Malformed)?)
        .map_err(|_| VerifyError::Malformed)?;
    let kid = header.kid.ok_or(VerifyError::NoKid)?;
    let key = find_key(&kid).ok_or_else(|| VerifyError::UnknownKid(kid.clone()))??;
    let key: &VerifyKey = key.borrow();
    // The key decides the algorithm; the token's header must agree with it.
    if !key.accepts(&header.alg) {
        return Err(VerifyError::WrongAlgorithm(header.alg));
    }
    let signature = URL_SAFE_NO_PAD.decode(s).map_err(|_| VerifyError::Malformed)?;
    if !key.check(&token.as_bytes()[..h.len() + 1 + p.len()], &signature) {
        return Err(VerifyError::BadSignature);
    }
    URL_SAFE_NO_PAD.decode(p).map_err(|_| VerifyError::Malformed)
}

impl Jwk {
    /// The Ed25519 key this JWK publishes; `None` for anything else.
    fn ed25519(&self) -> Option<VerifyKey> {
        if self.kty != "OKP" || self.crv.as_deref() != Some("Ed25519") {
            return None;
        }
        let x = URL_SAFE_NO_PAD.decode(self.x.as_deref()?).ok()?;
        Some(VerifyKey::Ed(ed25519_dalek::VerifyingKey::from_bytes(&x.try_into().ok()?).ok()?))
    }
}

/// Verifies `token` against `jwks` at time `now`.
pub fn verify(token: &str, jwks: &Jwks, expect: &Expectations, now: i64) -> Result<Claims, VerifyError> {
    verify_with(
        token,
        |kid| jwks.keys.iter().find(|k| k.kid == kid).map(|k| k.ed25519().ok_or(VerifyError::BadSignature)),
        expect,
        now,
    )
}

/// Verifies `token` with the key `find_key` returns for its `kid` (`None`: unknown kid).
pub fn verify_with<K>(
    token: &str,
    find_key: impl FnOnce(&str) -> Option<Result<K, VerifyError>>,
    expect: &Expectations,
    now: i64,
) -> Result<Claims, VerifyError>
where
    K: std::borrow::Borrow<VerifyKey>,
{
    let payload = verified_payload(token, find_key)?;
    let claims: Claims = serde_json::from_slice(&payload).map_err(|_| VerifyError::BadClaims)?;
    let exp_leeway = if expect.strict_expiry { 0 } else { LEEWAY_SECS };
    if claims.exp + exp_leeway <= now {
        return Err(VerifyError::Expired);
    }
    if claims.nbf - LEEWAY_SECS > now {
        return Err(VerifyError::NotYetValid);
    }
    if expect.issuer.as_ref().is_some_and(|i| *i != claims.iss) {
        return Err(VerifyError::WrongIssuer);
    }
    if expect.audience.as_ref().is_some_and(|a| *a != claims.aud) {
        return Err(VerifyError::WrongAudience);
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::kek::Kek;
    use crate::token::keyring::{Algorithm, KeyState, Signer, new_key_record};

    fn setup() -> (Signer, Jwks, Claims) {
        let kek = Kek::generate();
        let rec = new_key_record(Algorithm::EdDsa, &kek, KeyState::Active, 1_000);
        let signer = Signer::from_record(&rec, &kek).expect("signer");
        let jwks = Jwks {
            keys: vec![Jwk {
                kid: rec.kid.to_string(),
                kty: "OKP".into(),
                crv: Some("Ed25519".into()),
                x: Some(URL_SAFE_NO_PAD.encode(rec.public_key.expect("public"))),
                alg: Some("EdDSA".into()),
            }],
        };
        let claims = Claims::example();
        (signer, jwks, claims)
    }

    fn forge(header: &str, token: &str) -> String {
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        parts[0] = URL_SAFE_NO_PAD.encode(header);
        parts.join(".")
    }

    #[test]
    fn valid_tokens_verify_and_everything_else_is_refused() {
        let (signer, jwks, claims) = setup();
        let token = signer.sign(&claims);
        let none = Expectations::default();
        assert_eq!(verify(&token, &jwks, &none, 1_500), Ok(claims.clone()));

        let kid = signer.kid().to_string();
        let expect = |t: &str, now| verify(t, &jwks, &none, now);
        assert_eq!(expect(&token, 1_960), Err(VerifyError::Expired));
        assert_eq!(expect(&token, 900), Err(VerifyError::NotYetValid));
        assert_eq!(expect("a.b", 1_500), Err(VerifyError::Malformed));
        let alg_none = forge(&format!(r#"{{"alg":"none","typ":"JWT","kid":"{kid}"}}"#), &token);
        assert_eq!(expect(&alg_none, 1_500), Err(VerifyError::WrongAlgorithm("none".into())));
        let alg_hs = forge(&format!(r#"{{"alg":"HS256","typ":"JWT","kid":"{kid}"}}"#), &token);
        assert_eq!(expect(&alg_hs, 1_500), Err(VerifyError::WrongAlgorithm("HS256".into())));
        let unknown = forge(r#"{"alg":"EdDSA","typ":"JWT","kid":"nope"}"#, &token);
        assert_eq!(expect(&unknown, 1_500), Err(VerifyError::UnknownKid("nope".into())));

        let mut tampered_claims = claims.clone();
        tampered_claims.sub = "other".into();
        let other = signer.sign(&tampered_claims);
        let spliced = format!(
            "{}.{}.{}",
            token.split('.').next().expect("h"),
            other.split('.').nth(1).expect("p"),
            token.split('.').nth(2).expect("s")
        );
        assert_eq!(expect(&spliced, 1_500), Err(VerifyError::BadSignature));

        let wrong_aud = Expectations { audience: Some("someone-else".into()), ..Default::default() };
        assert_eq!(verify(&token, &jwks, &wrong_aud, 1_500), Err(VerifyError::WrongAudience));
        let right =
            Expectations { issuer: Some("tessera".into()), audience: Some("subtotal".into()), ..Default::default() };
        assert!(verify(&token, &jwks, &right, 1_500).is_ok());
        // 60 s of leeway on exp, or none.
        let strict = Expectations { strict_expiry: true, ..Default::default() };
        assert!(verify(&token, &jwks, &none, claims.exp + 59).is_ok());
        assert_eq!(verify(&token, &jwks, &strict, claims.exp), Err(VerifyError::Expired));
        assert!(verify(&token, &jwks, &strict, claims.exp - 1).is_ok());
    }
}
