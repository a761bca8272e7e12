//! Whether the database can serve: the readiness probe's questions.
use crate::storage::{Store, StoreError};

/// Succeeds when the database answers.
pub async fn ping(store: &dyn Store) -> Result<(), StoreError> {
    store.ping().await
}

/// Succeeds when a write would find room now ([`StoreError::DiskFull`] when it would not).
pub async fn writable(store: &dyn Store) -> Result<(), StoreError> {
    store.writable().await
}
