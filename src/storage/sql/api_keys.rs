//! API keys, stored as digests.
use crate::domain::api_key::ApiKeyRecord;
use crate::domain::ids::{ApiKeyId, ClientId};
use crate::storage::StoreError;

store_trait! {
/// API keys, stored as digests.
pub trait ApiKeyStore {
    async fn create_api_key(&self, key: &ApiKeyRecord) -> Result<(), StoreError>;
    async fn find_api_key(&self, id: &ApiKeyId) -> Result<Option<ApiKeyRecord>, StoreError>;
    async fn list_api_keys(&self, client: &ClientId) -> Result<Vec<ApiKeyRecord>, StoreError>;
    /// Notes that an API key was used at `at` (a later time than the one stored only).
    async fn note_api_key_used(&self, id: &ApiKeyId, at: i64) -> Result<(), StoreError>;
}
}

/// Implements [`crate::storage::ApiKeyStore`] for a backend.
macro_rules! api_keys {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl $crate::storage::ApiKeyStore for $store {
            async fn note_api_key_used(&self, id: &ApiKeyId, at: i64) -> Result<(), StoreError> {
                sqlx::query(
                    "UPDATE api_keys SET last_used_at = $2 WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < $2)",
                )
                .bind(id)
                .bind(at)
                .execute(self.pool())
                .await
                .map_err(map_err)?;
                Ok(())
            }

            async fn create_api_key(&self, key: &ApiKeyRecord) -> Result<(), StoreError> {
                let mut conn = self.pool().acquire().await.map_err(map_err)?;
                insert_api_key(&mut conn, key).await
            }

            async fn find_api_key(&self, id: &ApiKeyId) -> Result<Option<ApiKeyRecord>, StoreError> {
                sqlx::query_as(&format!("SELECT {API_KEY_COLUMNS} FROM api_keys WHERE id = $1"))
                    .bind(id)
                    .fetch_optional(self.pool())
                    .await
                    .map_err(map_err)
            }

            async fn list_api_keys(&self, client: &ClientId) -> Result<Vec<ApiKeyRecord>, StoreError> {
                sqlx::query_as(&format!("SELECT {API_KEY_COLUMNS} FROM api_keys WHERE client_id = $1 ORDER BY id"))
                    .bind(client)
                    .fetch_all(self.pool())
                    .await
                    .map_err(map_err)
            }
        }
    };
}

pub(crate) use api_keys;
