//! The signing keyring: keys stored in the database (sealed under the KEK) so every replica
//! shares them, the key that signs, and the JWKS that publishes the public halves.
use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, RwLock};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::Signer as _;
use hmac::{Hmac, Mac as _};
use rand::RngCore as _;
use sha2::Sha256;
use zeroize::Zeroizing;

use super::claims::Claims;
use super::clock::Clock;
use crate::crypto::kek::{Kek, KekError};
use crate::domain::ids::Kid;
use crate::storage::{SigningKeyRecord, Store, StoreError};

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
        f.write_str(self.jws_name())
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

#[derive(Debug, thiserror::Error)]
pub enum KeyringError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Kek(#[from] KekError),
    #[error("signing key {0} is corrupt: {1}")]
    Corrupt(Kid, &'static str),
    #[error("no active {0} signing key")]
    NoActiveKey(Algorithm),
}

enum SignerKey {
    Ed(ed25519_dalek::SigningKey),
    Hs(Hmac<Sha256>),
}

/// The key that signs tokens, parsed once: signing costs one signature, no key parsing.
pub struct Signer {
    kid: Kid,
    alg: Algorithm,
    header_b64: String,
    key: SignerKey,
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer").field("kid", &self.kid).field("alg", &self.alg).finish_non_exhaustive()
    }
}

impl Signer {
    pub fn kid(&self) -> &Kid {
        &self.kid
    }

    pub fn alg(&self) -> Algorithm {
        self.alg
    }

    /// Signs `claims` as a compact JWS.
    pub fn sign(&self, claims: &Claims) -> String {
        // Serializing a struct of strings and integers cannot fail.
        let payload = serde_json::to_vec(claims).expect("claims serialize");
        let mut token = String::with_capacity(self.header_b64.len() + payload.len() * 4 / 3 + 96);
        token.push_str(&self.header_b64);
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(&payload, &mut token);
        let signature = match &self.key {
            SignerKey::Ed(k) => k.sign(token.as_bytes()).to_bytes().to_vec(),
            SignerKey::Hs(mac) => {
                let mut mac = mac.clone();
                mac.update(token.as_bytes());
                mac.finalize().into_bytes().to_vec()
            }
        };
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(&signature, &mut token);
        token
    }

    pub fn from_record(rec: &SigningKeyRecord, kek: &Kek) -> Result<Self, KeyringError> {
        let secret = kek.open(rec.kid.as_str().as_bytes(), &rec.private_key_sealed)?;
        let alg: Algorithm = rec.alg.parse().map_err(|_| KeyringError::Corrupt(rec.kid.clone(), "unknown alg"))?;
        let key = match alg {
            Algorithm::EdDsa => {
                let seed: [u8; 32] = secret
                    .as_slice()
                    .try_into()
                    .map_err(|_| KeyringError::Corrupt(rec.kid.clone(), "Ed25519 seed is not 32 bytes"))?;
                SignerKey::Ed(ed25519_dalek::SigningKey::from_bytes(&seed))
            }
            Algorithm::Hs256 => SignerKey::Hs(
                Hmac::<Sha256>::new_from_slice(&secret)
                    .map_err(|_| KeyringError::Corrupt(rec.kid.clone(), "bad HMAC key"))?,
            ),
        };
        let header = serde_json::json!({"alg": alg.jws_name(), "typ": "JWT", "kid": rec.kid.as_str()});
        Ok(Signer { kid: rec.kid.clone(), alg, header_b64: URL_SAFE_NO_PAD.encode(header.to_string()), key })
    }
}

/// A new signing key record for `alg`, its private half sealed under `kek`.
pub fn new_key_record(alg: Algorithm, kek: &Kek, state: &str, now: i64) -> SigningKeyRecord {
    let kid = Kid::generate();
    let mut secret = Zeroizing::new([0u8; 32]);
    rand::rngs::OsRng.fill_bytes(secret.as_mut());
    let public_key = match alg {
        Algorithm::EdDsa => Some(ed25519_dalek::SigningKey::from_bytes(&secret).verifying_key().to_bytes().to_vec()),
        Algorithm::Hs256 => None,
    };
    SigningKeyRecord {
        private_key_sealed: kek.seal(kid.as_str().as_bytes(), secret.as_ref()),
        kid,
        alg: alg.jws_name().to_owned(),
        state: state.to_owned(),
        public_key,
        created_at: now,
        activated_at: (state == "active").then_some(now),
        retired_at: None,
    }
}

struct Loaded {
    signer: Arc<Signer>,
    jwks: Arc<serde_json::Value>,
}

/// The keys this process signs and publishes with, reloaded from the store on demand.
pub struct Keyring {
    store: Arc<dyn Store>,
    kek: Kek,
    alg: Algorithm,
    clock: Arc<dyn Clock>,
    /// How long a retired key stays published: the longest token lifetime plus leeway.
    retired_publish_secs: i64,
    loaded: RwLock<Arc<Loaded>>,
}

impl Keyring {
    /// Loads the keyring, first creating an active key for `alg` if there is none.
    pub async fn open(
        store: Arc<dyn Store>,
        kek: Kek,
        alg: Algorithm,
        clock: Arc<dyn Clock>,
        retired_publish_secs: i64,
    ) -> Result<Self, KeyringError> {
        let candidate = new_key_record(alg, &kek, "active", clock.now());
        store.insert_signing_key_if_none_active(&candidate).await?;
        let loaded = load(store.as_ref(), &kek, alg, clock.now(), retired_publish_secs).await?;
        Ok(Self { store, kek, alg, clock, retired_publish_secs, loaded: RwLock::new(Arc::new(loaded)) })
    }

    /// Re-reads the keys from the store, picking up rotations by other processes.
    pub async fn refresh(&self) -> Result<(), KeyringError> {
        let loaded =
            load(self.store.as_ref(), &self.kek, self.alg, self.clock.now(), self.retired_publish_secs).await?;
        *self.loaded.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(loaded);
        Ok(())
    }

    /// The key that signs now.
    pub fn signer(&self) -> Arc<Signer> {
        self.loaded.read().unwrap_or_else(|p| p.into_inner()).signer.clone()
    }

    /// The JSON Web Key Set (RFC 7517) of published public keys.
    pub fn jwks(&self) -> Arc<serde_json::Value> {
        self.loaded.read().unwrap_or_else(|p| p.into_inner()).jwks.clone()
    }

    /// Retires the active key of `alg` and activates a new one. Returns the new `kid`.
    pub async fn rotate(store: &dyn Store, kek: &Kek, alg: Algorithm, now: i64) -> Result<Kid, KeyringError> {
        let rec = new_key_record(alg, kek, "active", now);
        store.rotate_signing_key(&rec, now).await?;
        Ok(rec.kid)
    }
}

async fn load(
    store: &dyn Store,
    kek: &Kek,
    alg: Algorithm,
    now: i64,
    retired_publish_secs: i64,
) -> Result<Loaded, KeyringError> {
    let records = store.signing_keys().await?;
    let active = records
        .iter()
        .find(|r| r.state == "active" && r.alg == alg.jws_name())
        .ok_or(KeyringError::NoActiveKey(alg))?;
    let signer = Arc::new(Signer::from_record(active, kek)?);
    let keys: Vec<serde_json::Value> = records
        .iter()
        .filter(|r| r.alg == Algorithm::EdDsa.jws_name())
        .filter(|r| match r.retired_at {
            Some(at) => at + retired_publish_secs > now,
            None => true,
        })
        .filter_map(|r| {
            let x = URL_SAFE_NO_PAD.encode(r.public_key.as_ref()?);
            Some(serde_json::json!({
                "kty": "OKP", "crv": "Ed25519", "x": x, "kid": r.kid.as_str(), "alg": "EdDSA", "use": "sig"
            }))
        })
        .collect();
    Ok(Loaded { signer, jwks: Arc::new(serde_json::json!({ "keys": keys })) })
}
