//! API keys: `tsk_<key id>_<secret>`.
//!
//! The `tsk_` prefix lets secret scanners find a leaked key; the key id (a ULID) lets the
//! server find the stored record without scanning; the secret is 256 bits from the OS
//! CSPRNG. Only a SHA-256 digest of the whole key is stored, and digests are compared in
//! constant time. A fast digest is right here: the secret has full entropy, so a slow
//! password hash would only make every request cost milliseconds.
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore as _;

use crate::domain::api_key::ApiKeyDigest;
use crate::domain::ids::{ApiKeyId, ConnectorId};

/// The prefix every tessera API key starts with.
pub const PREFIX: &str = "tsk_";
/// The prefix of a connector credential: a different kind of secret, which no client
/// endpoint accepts (and a client key is no connector credential).
pub const CONNECTOR_PREFIX: &str = "tsc_";

/// A plaintext API key. Shown to its owner once, never logged: `Debug` is redacted.
#[derive(Clone, PartialEq, Eq)]
pub struct PlainApiKey(String);

impl fmt::Debug for PlainApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PlainApiKey(<redacted>)")
    }
}

impl PlainApiKey {
    /// A new key for a new key id.
    pub fn generate() -> (ApiKeyId, PlainApiKey) {
        let (id, key) = Self::generate_with(PREFIX);
        (ApiKeyId::from_string(id), key)
    }

    /// A new connector credential for a new credential id.
    pub fn generate_connector() -> (ConnectorId, PlainApiKey) {
        let (id, key) = Self::generate_with(CONNECTOR_PREFIX);
        (ConnectorId::from_string(id), key)
    }

    fn generate_with(prefix: &str) -> (String, PlainApiKey) {
        let id = crate::domain::ids::ordered_id();
        let mut secret = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut secret);
        let key = format!("{prefix}{id}_{}", URL_SAFE_NO_PAD.encode(secret));
        (id, PlainApiKey(key))
    }

    /// Reads a presented key. Returns `None` when it is not in tessera's format, which
    /// callers answer exactly like an unknown key.
    pub fn parse(presented: &str) -> Option<(ApiKeyId, PlainApiKey)> {
        Self::parse_with(PREFIX, presented).map(|(id, key)| (ApiKeyId::from_string(id), key))
    }

    /// Reads a presented connector credential, as [`PlainApiKey::parse`] reads a key.
    pub fn parse_connector(presented: &str) -> Option<(ConnectorId, PlainApiKey)> {
        Self::parse_with(CONNECTOR_PREFIX, presented).map(|(id, key)| (ConnectorId::from_string(id), key))
    }

    fn parse_with<'a>(prefix: &str, presented: &'a str) -> Option<(&'a str, PlainApiKey)> {
        let rest = presented.strip_prefix(prefix)?;
        let (id, secret) = rest.split_once('_')?;
        if id.len() != 26 || secret.len() != 43 || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return None;
        }
        Some((id, PlainApiKey(presented.to_owned())))
    }

    /// The plaintext, for showing to the key's owner once.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn digest(&self) -> ApiKeyDigest {
        ApiKeyDigest::of(self.0.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_parse_and_match_their_digest() {
        let (id, key) = PlainApiKey::generate();
        assert!(key.expose().starts_with(PREFIX));
        let (parsed_id, parsed) = PlainApiKey::parse(key.expose()).expect("parses");
        assert_eq!(parsed_id, id);
        assert!(key.digest().matches(&parsed.digest()));
        let (_, other) = PlainApiKey::generate();
        assert!(!key.digest().matches(&other.digest()));
    }

    #[test]
    fn connector_credentials_and_client_keys_are_not_interchangeable() {
        let (_, client) = PlainApiKey::generate();
        let (id, connector) = PlainApiKey::generate_connector();
        assert!(connector.expose().starts_with(CONNECTOR_PREFIX));
        assert_eq!(PlainApiKey::parse_connector(connector.expose()).map(|(i, _)| i), Some(id));
        assert!(PlainApiKey::parse(connector.expose()).is_none());
        assert!(PlainApiKey::parse_connector(client.expose()).is_none());
    }

    #[test]
    fn malformed_keys_are_rejected() {
        for bad in ["", "tsk_", "tsk_abc_def", "key-c1", "Bearer x", "tsk__"] {
            assert!(PlainApiKey::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let (_, key) = PlainApiKey::generate();
        let dbg = format!("{key:?} {:?}", key.digest());
        assert!(!dbg.contains(&key.expose()[10..]));
        assert!(dbg.contains("redacted"));
    }
}
