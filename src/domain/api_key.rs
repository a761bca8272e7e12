//! API keys as stored: the key's id, its client and a digest, never the secret.
use std::fmt;

use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

use super::ids::{ApiKeyId, ClientId};

/// An API key as stored: only its digest, never the secret.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct ApiKeyRecord {
    pub id: ApiKeyId,
    pub client_id: ClientId,
    #[sqlx(try_from = "Vec<u8>")]
    pub digest: ApiKeyDigest,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

/// The stored form of an API key.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKeyDigest([u8; 32]);

impl fmt::Debug for ApiKeyDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKeyDigest(<redacted>)")
    }
}

impl ApiKeyDigest {
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        Some(Self(bytes.try_into().ok()?))
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The digest of a whole presented key.
    pub fn of(key: &[u8]) -> Self {
        Self(Sha256::digest(key).into())
    }

    /// Constant-time comparison with a presented key's digest.
    pub fn matches(&self, other: &ApiKeyDigest) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl TryFrom<Vec<u8>> for ApiKeyDigest {
    type Error = String;

    fn try_from(bytes: Vec<u8>) -> Result<Self, Self::Error> {
        Self::from_bytes(&bytes).ok_or_else(|| format!("an API key digest has 32 bytes, not {}", bytes.len()))
    }
}
