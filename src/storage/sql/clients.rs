//! Clients: the tenants.
use crate::domain::api_key::ApiKeyRecord;
use crate::domain::client::Client;
use crate::domain::ids::ClientId;
use crate::storage::StoreError;

store_trait! {
/// Clients: the tenants.
pub trait ClientStore {
    async fn create_client(&self, client: &Client) -> Result<(), StoreError>;
    async fn find_client(&self, id: &ClientId) -> Result<Option<Client>, StoreError>;
    /// Every client, oldest first.
    async fn list_clients(&self) -> Result<Vec<Client>, StoreError>;
    /// Creates `client` with `key` only when the database has no client at all. Race-safe:
    /// of several callers at once, exactly one creates. Returns whether this call created.
    async fn bootstrap_client(&self, client: &Client, key: &ApiKeyRecord) -> Result<bool, StoreError>;
}
}

/// Implements [`crate::storage::ClientStore`] for a backend.
macro_rules! clients {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl $crate::storage::ClientStore for $store {
            async fn create_client(&self, client: &Client) -> Result<(), StoreError> {
                let mut conn = self.pool().acquire().await.map_err(map_err)?;
                insert_client(&mut conn, client).await
            }

            async fn find_client(&self, id: &ClientId) -> Result<Option<Client>, StoreError> {
                sqlx::query_as("SELECT id, name, created_at FROM clients WHERE id = $1")
                    .bind(id)
                    .fetch_optional(self.pool())
                    .await
                    .map_err(map_err)
            }

            async fn list_clients(&self) -> Result<Vec<Client>, StoreError> {
                sqlx::query_as("SELECT id, name, created_at FROM clients ORDER BY created_at, id")
                    .fetch_all(self.pool())
                    .await
                    .map_err(map_err)
            }

            async fn bootstrap_client(&self, client: &Client, key: &ApiKeyRecord) -> Result<bool, StoreError> {
                let mut tx = self.begin_write(WriteLock::Bootstrap).await?;
                let existing: i64 =
                    sqlx::query_scalar("SELECT COUNT(*) FROM clients").fetch_one(&mut *tx).await.map_err(map_err)?;
                if existing > 0 {
                    return Ok(false);
                }
                insert_client(&mut tx, client).await?;
                insert_api_key(&mut tx, key).await?;
                tx.commit().await.map_err(map_err)?;
                Ok(true)
            }
        }
    };
}

pub(crate) use clients;
