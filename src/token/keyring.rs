//! The signing keyring: keys stored in the database (sealed under the KEK) so every replica
//! shares them, the key that signs, and the JWKS that publishes the public halves.
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, RwLock};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac as _};
use rand::RngCore as _;
use sha2::Sha256;
use zeroize::Zeroizing;

use super::claims::Claims;
use super::clock::{Clock, ClockGuard};
use super::verify::{Expectations, VerifyError, VerifyKey, verify_with};
use crate::crypto::kek::{Kek, KekError};
use crate::domain::ids::Kid;
use crate::domain::signing_key::SigningKeyRecord;
pub use crate::domain::signing_key::{Algorithm, KeyState};
use crate::storage::{Store, StoreError};

/// How long verifiers may cache the key set (the JWKS `Cache-Control` max-age).
pub const JWKS_MAX_AGE_SECS: u32 = 300;

/// Refuses a pre-publication shorter than verifiers need to see a key before it signs: the
/// JWKS cache lifetime plus the time servers take to read the keyring (`key_refresh`). The
/// message names the flag the operator set (`flag`).
pub fn check_prepublish(prepublish_secs: u32, key_refresh_secs: u32, flag: &str) -> Result<(), String> {
    let min_lead = u64::from(JWKS_MAX_AGE_SECS) + u64::from(key_refresh_secs);
    if u64::from(prepublish_secs) < min_lead {
        return Err(format!(
            "{flag} must be at least {min_lead} seconds (the JWKS cache lifetime of {JWKS_MAX_AGE_SECS} s plus \
             --key-refresh), or verifiers can meet a key they do not know"
        ));
    }
    Ok(())
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
    /// Signed with aws-lc (the hot path); checked with ed25519-dalek like every token.
    Ed(aws_lc_rs::signature::Ed25519KeyPair, ed25519_dalek::VerifyingKey),
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

    /// The half of this key that checks signatures.
    pub fn verify_key(&self) -> VerifyKey {
        match &self.key {
            SignerKey::Ed(_, public) => VerifyKey::Ed(*public),
            SignerKey::Hs(mac) => VerifyKey::Hs(mac.clone()),
        }
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
            SignerKey::Ed(pair, _) => pair.sign(token.as_bytes()).as_ref().to_vec(),
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
        let alg = rec.alg;
        let key = match alg {
            Algorithm::EdDsa => {
                let seed: [u8; 32] = secret
                    .as_slice()
                    .try_into()
                    .map_err(|_| KeyringError::Corrupt(rec.kid.clone(), "Ed25519 seed is not 32 bytes"))?;
                let public = ed25519_dalek::SigningKey::from_bytes(&seed).verifying_key();
                let pair = aws_lc_rs::signature::Ed25519KeyPair::from_seed_unchecked(&seed)
                    .map_err(|_| KeyringError::Corrupt(rec.kid.clone(), "Ed25519 seed rejected"))?;
                SignerKey::Ed(pair, public)
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
pub fn new_key_record(alg: Algorithm, kek: &Kek, state: KeyState, now: i64) -> SigningKeyRecord {
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
        alg,
        state,
        public_key,
        created_at: now,
        activated_at: (state == KeyState::Active).then_some(now),
        retired_at: None,
    }
}

/// When keys are published, sign, and leave.
///
/// A key's life: `next` (published in the JWKS, not signing) for `prepublish_secs`, then
/// `active` (signing) until the next key is due, then `retired` (published, not signing) for
/// `retired_publish_secs`, then gone from the JWKS. Because a verifier may cache the JWKS for
/// its `Cache-Control` max-age, `prepublish_secs` must exceed that max-age plus the keyring
/// refresh interval: by the time any replica signs with a new key, every cached JWKS has it.
#[derive(Clone, Copy, Debug)]
pub struct KeyPolicy {
    pub prepublish_secs: i64,
    /// Seconds between automatic rotations; 0 turns them off.
    pub rotation_period_secs: i64,
    /// The longest token lifetime plus leeway.
    pub retired_publish_secs: i64,
}

struct Loaded {
    signer: Arc<Signer>,
    jwks: Arc<serde_json::Value>,
    /// Every key that may have signed a still-valid token, by kid.
    verifiers: HashMap<String, Arc<VerifyKey>>,
    active_since: i64,
    has_next: bool,
}

/// The keys this process signs and publishes with, reloaded from the store on demand.
pub struct Keyring {
    store: Arc<dyn Store>,
    kek: Kek,
    alg: Algorithm,
    clock: Arc<dyn Clock>,
    policy: KeyPolicy,
    loaded: RwLock<Arc<Loaded>>,
    /// Whether the last refresh failed: the keys in hand may then be stale.
    stale: std::sync::atomic::AtomicBool,
    /// While the clock is not trusted, no key is activated and no rotation scheduled.
    clock_guard: Option<Arc<ClockGuard>>,
}

impl Keyring {
    /// Loads the keyring, first creating an active key for `alg` if there is none.
    pub async fn open(
        store: Arc<dyn Store>,
        kek: Kek,
        alg: Algorithm,
        clock: Arc<dyn Clock>,
        policy: KeyPolicy,
        clock_guard: Option<Arc<ClockGuard>>,
    ) -> Result<Self, KeyringError> {
        let candidate = new_key_record(alg, &kek, KeyState::Active, clock.now());
        store.insert_signing_key_if_none_active(&candidate).await?;
        let loaded = load(store.as_ref(), &kek, alg, clock.now(), &policy).await?;
        let keyring = Self {
            store,
            kek,
            alg,
            clock,
            policy,
            loaded: RwLock::new(Arc::new(loaded)),
            stale: std::sync::atomic::AtomicBool::new(false),
            clock_guard,
        };
        keyring.refresh().await?;
        Ok(keyring)
    }

    /// Moves the keyring along its schedule (promoting a due key, scheduling the next one
    /// when a rotation period is set) and re-reads it, picking up changes by other processes.
    pub async fn refresh(&self) -> Result<(), KeyringError> {
        let result = self.try_refresh().await;
        self.stale.store(result.is_err(), std::sync::atomic::Ordering::Relaxed);
        result
    }

    /// Whether the last refresh succeeded. A keyring that cannot be re-read (the database is
    /// gone, or its keys were sealed under another KEK) may be signing with a retired key.
    pub fn is_current(&self) -> bool {
        !self.stale.load(std::sync::atomic::Ordering::Relaxed)
    }

    async fn try_refresh(&self) -> Result<(), KeyringError> {
        let now = self.clock.now();
        // A clock that is not trusted moves nothing along the schedule: a key activated, or
        // a rotation dated, from a wrong time would sign too early or stay active too long.
        let moves = self.clock_guard.as_ref().is_none_or(|g| g.trusted());
        if moves {
            self.store.promote_signing_key(self.alg, now).await?;
        }
        let mut loaded = load(self.store.as_ref(), &self.kek, self.alg, now, &self.policy).await?;
        let period = self.policy.rotation_period_secs;
        if moves && period > 0 && !loaded.has_next && loaded.active_since + period <= now + self.policy.prepublish_secs
        {
            let activate_at = (loaded.active_since + period).max(now + self.policy.prepublish_secs);
            let mut next = new_key_record(self.alg, &self.kek, KeyState::Next, now);
            next.activated_at = Some(activate_at);
            if self.store.schedule_signing_key(&next).await? {
                tracing::info!(kid = %next.kid, activate_at, "scheduled the next signing key");
            }
            loaded = load(self.store.as_ref(), &self.kek, self.alg, now, &self.policy).await?;
        }
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

    /// Verifies a token against every key that may have signed a still-valid one (including
    /// HS256 keys, which are never published), with the algorithm pinned by the key.
    pub fn verify(&self, token: &str, expect: &Expectations) -> Result<Claims, VerifyError> {
        let loaded = self.loaded.read().unwrap_or_else(|p| p.into_inner()).clone();
        verify_with(token, |kid| loaded.verifiers.get(kid).cloned().map(Ok), expect, self.clock.now())
    }

    /// Schedules a new key of `alg`: published now, signing from `now + prepublish_secs`.
    /// Returns its kid, or `None` when a key is already scheduled.
    pub async fn schedule(
        store: &dyn Store,
        kek: &Kek,
        alg: Algorithm,
        now: i64,
        prepublish_secs: i64,
    ) -> Result<Option<(Kid, i64)>, KeyringError> {
        check_kek(store, kek).await?;
        let mut rec = new_key_record(alg, kek, KeyState::Next, now);
        let at = now + prepublish_secs;
        rec.activated_at = Some(at);
        Ok(store.schedule_signing_key(&rec).await?.then_some((rec.kid, at)))
    }

    /// Retires the active key of `alg` and activates a new one at once, without
    /// pre-publication: for a compromised key. Verifiers holding a cached JWKS will not know
    /// the new key until they refetch it. Returns the new `kid`.
    pub async fn rotate_now(store: &dyn Store, kek: &Kek, alg: Algorithm, now: i64) -> Result<Kid, KeyringError> {
        check_kek(store, kek).await?;
        let rec = new_key_record(alg, kek, KeyState::Active, now);
        store.rotate_signing_key(&rec, now).await?;
        Ok(rec.kid)
    }
}

/// Refuses a key-encryption key that cannot open the keys already in the store: a key sealed
/// under the wrong KEK would be one no server of the deployment can read.
async fn check_kek(store: &dyn Store, kek: &Kek) -> Result<(), KeyringError> {
    for rec in store.signing_keys().await? {
        kek.open(rec.kid.as_str().as_bytes(), &rec.private_key_sealed)?;
    }
    Ok(())
}

async fn load(
    store: &dyn Store,
    kek: &Kek,
    alg: Algorithm,
    now: i64,
    policy: &KeyPolicy,
) -> Result<Loaded, KeyringError> {
    let records = store.signing_keys().await?;
    let active =
        records.iter().find(|r| r.state == KeyState::Active && r.alg == alg).ok_or(KeyringError::NoActiveKey(alg))?;
    let signer = Arc::new(Signer::from_record(active, kek)?);
    let published: Vec<&SigningKeyRecord> = records
        .iter()
        .filter(|r| match r.retired_at {
            Some(at) => at + policy.retired_publish_secs > now,
            None => true,
        })
        .collect();
    let keys: Vec<serde_json::Value> = published
        .iter()
        .filter(|r| r.alg == Algorithm::EdDsa)
        .filter_map(|r| {
            let x = URL_SAFE_NO_PAD.encode(r.public_key.as_ref()?);
            Some(serde_json::json!({
                "kty": "OKP", "crv": "Ed25519", "x": x, "kid": r.kid.as_str(), "alg": "EdDSA", "use": "sig"
            }))
        })
        .collect();
    let mut verifiers = HashMap::new();
    for r in published.iter().filter(|r| r.state != KeyState::Next) {
        verifiers.insert(r.kid.to_string(), Arc::new(Signer::from_record(r, kek)?.verify_key()));
    }
    Ok(Loaded {
        signer,
        jwks: Arc::new(serde_json::json!({ "keys": keys })),
        verifiers,
        active_since: active.activated_at.unwrap_or(active.created_at),
        has_next: records.iter().any(|r| r.state == KeyState::Next && r.alg == alg),
    })
}

#[cfg(test)]
mod tests {
    use ed25519_dalek::Signer as _;

    use super::*;

    #[test]
    fn ed25519_signatures_are_exactly_the_reference_implementations() {
        let kek = Kek::generate();
        let rec = new_key_record(Algorithm::EdDsa, &kek, KeyState::Active, 1_000);
        let signer = Signer::from_record(&rec, &kek).expect("signer");
        let token = signer.sign(&Claims::example());
        let (signed, signature) = token.rsplit_once('.').expect("three parts");
        // Ed25519 is deterministic: the fast signer must agree with ed25519-dalek bit for bit.
        let seed: [u8; 32] = kek.open(rec.kid.as_str().as_bytes(), &rec.private_key_sealed).expect("open")[..]
            .try_into()
            .expect("32 bytes");
        let expected = ed25519_dalek::SigningKey::from_bytes(&seed).sign(signed.as_bytes());
        assert_eq!(URL_SAFE_NO_PAD.decode(signature).expect("base64"), expected.to_bytes());
        let key = signer.verify_key();
        let checked = verify_with(&token, |_| Some(Ok::<_, VerifyError>(&key)), &Expectations::default(), 1_500);
        assert_eq!(checked.expect("verifies"), Claims::example());
    }
}
