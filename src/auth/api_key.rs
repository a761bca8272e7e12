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
use crate::domain::ids::ApiKeyId;

/// The prefix every tessera API key starts with.
pub const PREFIX: &str = "tsk_";

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
        let id = ApiKeyId::generate();
        let mut secret = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut secret);
        let key = format!("{PREFIX}{id}_{}", URL_SAFE_NO_PAD.encode(secret));
        (id, PlainApiKey(key))
    }

    /// Reads a presented key. Returns `None` when it is not in tessera's format, which
    /// callers answer exactly like an unknown key.
    pub fn parse(presented: &str) -> Option<(ApiKeyId, PlainApiKey)> {
        let rest = presented.strip_prefix(PREFIX)?;
        let (id, secret) = rest.split_once('_')?;
        if id.len() != 26 || secret.len() != 43 || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return None;
        }
        Some((ApiKeyId::from_string(id), PlainApiKey(presented.to_owned())))
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
