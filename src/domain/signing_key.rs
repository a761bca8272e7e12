//! Signing keys as stored: private material sealed under the key-encryption key.
use super::ids::Kid;

/// A signing key as stored: private material sealed under the key-encryption key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SigningKeyRecord {
    pub kid: Kid,
    /// JWS algorithm name: `EdDSA` or `HS256`.
    pub alg: String,
    /// `next`, `active` or `retired`.
    pub state: String,
    pub public_key: Option<Vec<u8>>,
    pub private_key_sealed: Vec<u8>,
    pub created_at: i64,
    pub activated_at: Option<i64>,
    pub retired_at: Option<i64>,
}
