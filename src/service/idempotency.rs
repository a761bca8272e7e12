//! Idempotency keys: a retry with one gets the first answer again, not a second effect.
use super::CoreError;
use super::core::Idempotency;
use crate::domain::ids::ClientId;
use crate::storage::IdempotencyState;

impl Idempotency<'_> {
    /// Claims `key` of `client` for a request whose meaning is `fingerprint`, or says where it
    /// stands: held by another request (for `lease_secs`), answered already (kept `ttl_secs`), or
    /// used for a different request.
    pub async fn begin(
        &self,
        client: &ClientId,
        key: &str,
        fingerprint: &str,
        now: i64,
        lease_secs: i64,
        ttl_secs: i64,
    ) -> Result<IdempotencyState, CoreError> {
        let store = self.core.store();
        Ok(store.idempotency_begin(client, key, fingerprint, now, lease_secs, ttl_secs).await?)
    }

    /// Keeps the (sealed) answer to the request that claimed `key`.
    pub async fn finish(&self, client: &ClientId, key: &str, status: u16, sealed: &str) -> Result<(), CoreError> {
        let store = self.core.store();
        Ok(store.idempotency_finish(client, key, status, sealed).await?)
    }

    /// Lets go of `key` after a failed request: a retry runs afresh.
    pub async fn release(&self, client: &ClientId, key: &str) -> Result<(), CoreError> {
        let store = self.core.store();
        Ok(store.idempotency_release(client, key).await?)
    }
}
