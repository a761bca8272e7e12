//! Whether the database can serve: the readiness probe's questions.
use super::core::Health;
use crate::storage::StoreError;

impl Health<'_> {
    /// Succeeds when the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let store = self.core.store();
        store.ping().await
    }

    /// Succeeds when a write would find room now ([`StoreError::DiskFull`] when it would not).
    pub async fn writable(&self) -> Result<(), StoreError> {
        let store = self.core.store();
        store.writable().await
    }
}
