//! Idempotency keys and the (sealed) answers they replay.
use crate::domain::ids::ClientId;
use crate::storage::{IdempotencyState, StoreError};

store_trait! {
/// Idempotency keys and the (sealed) answers they replay.
pub trait IdempotencyStore {
    /// Claims an idempotency key for a request with `fingerprint`. A key is kept for
    /// `ttl_secs`; an unfinished claim older than `lease_secs` is taken to be abandoned.
    async fn idempotency_begin(
        &self,
        client: &ClientId,
        key: &str,
        fingerprint: &str,
        now: i64,
        lease_secs: i64,
        ttl_secs: i64,
    ) -> Result<IdempotencyState, StoreError>;
    /// Stores the answer to a claimed key.
    async fn idempotency_finish(&self, client: &ClientId, key: &str, status: u16, body: &str)
    -> Result<(), StoreError>;
    /// Gives a claimed key up (the request failed), so that a retry runs afresh.
    async fn idempotency_release(&self, client: &ClientId, key: &str) -> Result<(), StoreError>;
    /// Deletes every idempotency key created at or before `before` (their answers are no
    /// longer replayed). Returns how many were deleted.
    async fn purge_idempotency(&self, before: i64) -> Result<u64, StoreError>;
}
}

/// Implements [`crate::storage::IdempotencyStore`] for a backend.
macro_rules! idempotency {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl $crate::storage::IdempotencyStore for $store {
            async fn idempotency_begin(
                &self,
                client: &ClientId,
                key: &str,
                fingerprint: &str,
                now: i64,
                lease_secs: i64,
                ttl_secs: i64,
            ) -> Result<IdempotencyState, StoreError> {
                let mut tx = self.begin_write(WriteLock::None).await?;
                // Forget the key when it has expired, or its claim was abandoned.
                sqlx::query(
                    "DELETE FROM idempotency_keys WHERE client_id = $1 AND key = $2
                     AND (created_at <= $3 OR (status = 0 AND created_at <= $4))",
                )
                .bind(client)
                .bind(key)
                .bind(now - ttl_secs)
                .bind(now - lease_secs)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
                let claimed = sqlx::query(
                    "INSERT INTO idempotency_keys (client_id, key, fingerprint, status, response, created_at)
                     VALUES ($1, $2, $3, 0, NULL, $4) ON CONFLICT DO NOTHING",
                )
                .bind(client)
                .bind(key)
                .bind(fingerprint)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?
                .rows_affected()
                    > 0;
                let state = if claimed {
                    IdempotencyState::Claimed
                } else {
                    let row = sqlx::query(
                        "SELECT fingerprint, status, response FROM idempotency_keys WHERE client_id = $1 AND key = $2",
                    )
                    .bind(client)
                    .bind(key)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(map_err)?;
                    let row: &DbRow = &row;
                    let stored: String = row.try_get("fingerprint").map_err(map_err)?;
                    let status: i64 = row.try_get("status").map_err(map_err)?;
                    if stored != fingerprint {
                        IdempotencyState::Mismatch
                    } else if status == 0 {
                        IdempotencyState::InProgress
                    } else {
                        IdempotencyState::Done {
                            status: u16::try_from(status).unwrap_or(500),
                            body: row.try_get::<Option<String>, _>("response").map_err(map_err)?.unwrap_or_default(),
                        }
                    }
                };
                tx.commit().await.map_err(map_err)?;
                Ok(state)
            }

            async fn idempotency_finish(
                &self,
                client: &ClientId,
                key: &str,
                status: u16,
                body: &str,
            ) -> Result<(), StoreError> {
                sqlx::query("UPDATE idempotency_keys SET status = $3, response = $4 WHERE client_id = $1 AND key = $2")
                    .bind(client)
                    .bind(key)
                    .bind(i64::from(status))
                    .bind(body)
                    .execute(self.pool())
                    .await
                    .map_err(map_err)?;
                Ok(())
            }

            async fn idempotency_release(&self, client: &ClientId, key: &str) -> Result<(), StoreError> {
                sqlx::query("DELETE FROM idempotency_keys WHERE client_id = $1 AND key = $2 AND status = 0")
                    .bind(client)
                    .bind(key)
                    .execute(self.pool())
                    .await
                    .map_err(map_err)?;
                Ok(())
            }

            async fn purge_idempotency(&self, before: i64) -> Result<u64, StoreError> {
                let done = sqlx::query("DELETE FROM idempotency_keys WHERE created_at <= $1")
                    .bind(before)
                    .execute(self.pool())
                    .await
                    .map_err(map_err)?;
                Ok(done.rows_affected())
            }
        }
    };
}

pub(crate) use idempotency;
