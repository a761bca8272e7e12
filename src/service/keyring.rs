//! The signing keyring: listed, rotated at once, or rotated on a schedule.
use super::core::SigningKeys;
use super::{Actor, CoreError, audit};
use crate::domain::ids::Kid;
use crate::domain::signing_key::{Algorithm, SigningKeyRecord};
use crate::token::keyring::{Keyring, KeyringError};

impl SigningKeys<'_> {
    /// Every signing key, in every state (their private halves sealed).
    pub async fn list(&self) -> Result<Vec<SigningKeyRecord>, CoreError> {
        let store = self.core.store();
        Ok(store.signing_keys().await?)
    }

    /// A new `alg` key signs from `now` and the active one retires (for a compromised key).
    pub async fn rotate_now(&self, actor: Actor<'_>, alg: Algorithm, now: i64) -> Result<Kid, KeyringError> {
        let store = self.core.store();
        let kek = self.core.kek()?;
        let kid = Keyring::rotate_now(store, kek, alg, now).await?;
        audit(store, actor, "signing_key.rotate_now", kid.as_str(), now).await?;
        Ok(kid)
    }

    /// A new `alg` key, published now and signing `prepublish` seconds from now; `None` when
    /// one is scheduled already. Returns its kid and when it activates.
    pub async fn schedule(
        &self,
        actor: Actor<'_>,
        alg: Algorithm,
        now: i64,
        prepublish: i64,
    ) -> Result<Option<(Kid, i64)>, KeyringError> {
        let store = self.core.store();
        let kek = self.core.kek()?;
        let scheduled = Keyring::schedule(store, kek, alg, now, prepublish).await?;
        if let Some((kid, _)) = &scheduled {
            audit(store, actor, "signing_key.schedule", kid.as_str(), now).await?;
        }
        Ok(scheduled)
    }
}
