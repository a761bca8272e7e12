//! The signing keyring shared by every replica.
use crate::domain::signing_key::{Algorithm, SigningKeyRecord};
use crate::storage::StoreError;

store_trait! {
/// The signing keyring shared by every replica.
pub trait KeyringStore {
    async fn signing_keys(&self) -> Result<Vec<SigningKeyRecord>, StoreError>;
    /// Inserts `key` as the active key of its algorithm unless one is active already.
    /// Race-safe by a unique constraint. Returns whether it was inserted.
    async fn insert_signing_key_if_none_active(&self, key: &SigningKeyRecord) -> Result<bool, StoreError>;
    /// Inserts `key` (state `next`) unless a key of its algorithm is already scheduled.
    /// Returns whether it was inserted.
    async fn schedule_signing_key(&self, key: &SigningKeyRecord) -> Result<bool, StoreError>;
    /// When the scheduled key of `alg` is due (`activated_at <= now`), retires the active key
    /// and activates it, in one transaction. Returns whether a key was promoted.
    async fn promote_signing_key(&self, alg: Algorithm, now: i64) -> Result<bool, StoreError>;
    /// Retires the active key of `key.alg` and makes `key` active, in one transaction.
    async fn rotate_signing_key(&self, key: &SigningKeyRecord, at: i64) -> Result<(), StoreError>;
}
}

/// Implements [`crate::storage::KeyringStore`] for a backend.
macro_rules! keyring {
    ($store:ty) => {
        async fn insert_signing_key(
            conn: &mut Conn,
            key: &SigningKeyRecord,
            on_conflict: &str,
        ) -> Result<u64, StoreError> {
            let done = sqlx::query(&format!(
                "INSERT INTO signing_keys ({SIGNING_KEY_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) {on_conflict}"
            ))
            .bind(&key.kid)
            .bind(key.alg.jws_name())
            .bind(key.state.as_str())
            .bind(&key.public_key)
            .bind(&key.private_key_sealed)
            .bind(key.created_at)
            .bind(key.activated_at)
            .bind(key.retired_at)
            .execute(conn)
            .await
            .map_err(map_err)?;
            Ok(done.rows_affected())
        }

        /// Retires the active key of `alg`, in the caller's transaction.
        async fn retire_active(conn: &mut Conn, alg: Algorithm, at: i64) -> Result<(), StoreError> {
            sqlx::query("UPDATE signing_keys SET state = $3, retired_at = $2 WHERE alg = $1 AND state = $4")
                .bind(alg.jws_name())
                .bind(at)
                .bind(KeyState::Retired.as_str())
                .bind(KeyState::Active.as_str())
                .execute(conn)
                .await
                .map_err(map_err)?;
            Ok(())
        }

        #[async_trait::async_trait]
        impl $crate::storage::KeyringStore for $store {
            async fn signing_keys(&self) -> Result<Vec<SigningKeyRecord>, StoreError> {
                sqlx::query_as(&format!("SELECT {SIGNING_KEY_COLUMNS} FROM signing_keys ORDER BY created_at, kid"))
                    .fetch_all(self.pool())
                    .await
                    .map_err(map_err)
            }

            async fn insert_signing_key_if_none_active(&self, key: &SigningKeyRecord) -> Result<bool, StoreError> {
                let mut conn = self.pool().acquire().await.map_err(map_err)?;
                Ok(insert_signing_key(&mut conn, key, "ON CONFLICT DO NOTHING").await? > 0)
            }

            async fn schedule_signing_key(&self, key: &SigningKeyRecord) -> Result<bool, StoreError> {
                let mut conn = self.pool().acquire().await.map_err(map_err)?;
                Ok(insert_signing_key(&mut conn, key, "ON CONFLICT DO NOTHING").await? > 0)
            }

            async fn promote_signing_key(&self, alg: Algorithm, now: i64) -> Result<bool, StoreError> {
                let mut tx = self.begin_write(WriteLock::Keyring).await?;
                let due: Option<String> = sqlx::query_scalar(
                    "SELECT kid FROM signing_keys WHERE alg = $1 AND state = $3 AND activated_at <= $2",
                )
                .bind(alg.jws_name())
                .bind(now)
                .bind(KeyState::Next.as_str())
                .fetch_optional(&mut *tx)
                .await
                .map_err(map_err)?;
                let Some(kid) = due else { return Ok(false) };
                retire_active(&mut tx, alg, now).await?;
                sqlx::query("UPDATE signing_keys SET state = $2 WHERE kid = $1")
                    .bind(&kid)
                    .bind(KeyState::Active.as_str())
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?;
                tx.commit().await.map_err(map_err)?;
                Ok(true)
            }

            async fn rotate_signing_key(&self, key: &SigningKeyRecord, at: i64) -> Result<(), StoreError> {
                let mut tx = self.begin_write(WriteLock::Keyring).await?;
                retire_active(&mut tx, key.alg, at).await?;
                insert_signing_key(&mut tx, key, "").await?;
                tx.commit().await.map_err(map_err)
            }
        }
    };
}

pub(crate) use keyring;
