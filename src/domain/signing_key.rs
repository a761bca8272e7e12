//! Signing keys as stored: private material sealed under the key-encryption key, an
//! algorithm, and a place in the key's life (next, active, retired).
use std::fmt;
use std::str::FromStr;

use super::ids::Kid;

/// The JWS algorithms tessera signs with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    /// Ed25519 signatures; public keys are published in the JWKS. The default.
    EdDsa,
    /// HMAC-SHA256 with a secret shared with verifiers; never published.
    Hs256,
}

impl Algorithm {
    pub fn jws_name(self) -> &'static str {
        match self {
            Algorithm::EdDsa => "EdDSA",
            Algorithm::Hs256 => "HS256",
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.jws_name())
    }
}

impl serde::Serialize for Algorithm {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.jws_name())
    }
}

impl FromStr for Algorithm {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "eddsa" | "ed25519" => Ok(Algorithm::EdDsa),
            "hs256" => Ok(Algorithm::Hs256),
            _ => Err(format!("unknown algorithm {s:?}: use EdDSA or HS256")),
        }
    }
}

impl TryFrom<String> for Algorithm {
    type Error = String;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

/// Where a signing key is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyState {
    /// Published in the JWKS, not signing yet.
    Next,
    /// Signing new tokens.
    Active,
    /// Published until its tokens expire; not signing.
    Retired,
}

impl KeyState {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::Next => "next",
            KeyState::Active => "active",
            KeyState::Retired => "retired",
        }
    }
}

impl fmt::Display for KeyState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl TryFrom<String> for KeyState {
    type Error = String;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        [KeyState::Next, KeyState::Active, KeyState::Retired]
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| format!("unknown signing key state {s:?}"))
    }
}

/// A signing key as stored: private material sealed under the key-encryption key.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct SigningKeyRecord {
    pub kid: Kid,
    #[sqlx(try_from = "String")]
    pub alg: Algorithm,
    #[sqlx(try_from = "String")]
    pub state: KeyState,
    pub public_key: Option<Vec<u8>>,
    pub private_key_sealed: Vec<u8>,
    pub created_at: i64,
    pub activated_at: Option<i64>,
    pub retired_at: Option<i64>,
}
