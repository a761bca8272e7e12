//! The connector's credentials.
use crate::domain::connector::ConnectorCredential;
use crate::domain::ids::ConnectorId;
use crate::storage::StoreError;

store_trait! {
/// The connector's credentials.
pub trait ConnectorStore {
    async fn create_connector(&self, credential: &ConnectorCredential) -> Result<(), StoreError>;
    async fn find_connector(&self, id: &ConnectorId) -> Result<Option<ConnectorCredential>, StoreError>;
    async fn list_connectors(&self) -> Result<Vec<ConnectorCredential>, StoreError>;
    /// Marks a credential revoked (idempotent). `NotFound` when there is no such credential.
    async fn revoke_connector(&self, id: &ConnectorId, at: i64) -> Result<ConnectorCredential, StoreError>;
}
}

/// Implements [`crate::storage::ConnectorStore`] for a backend.
macro_rules! connectors {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl $crate::storage::ConnectorStore for $store {
            async fn create_connector(&self, c: &ConnectorCredential) -> Result<(), StoreError> {
                sqlx::query(
                    "INSERT INTO connector_credentials (id, name, digest, created_at, revoked_at) VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(&c.id)
                .bind(&c.name)
                .bind(c.digest.as_bytes())
                .bind(c.created_at)
                .bind(c.revoked_at)
                .execute(self.pool())
                .await
                .map_err(map_err)?;
                Ok(())
            }

            async fn find_connector(&self, id: &ConnectorId) -> Result<Option<ConnectorCredential>, StoreError> {
                sqlx::query_as("SELECT id, name, digest, created_at, revoked_at FROM connector_credentials WHERE id = $1")
                    .bind(id)
                    .fetch_optional(self.pool())
                    .await
                    .map_err(map_err)
            }

            async fn list_connectors(&self) -> Result<Vec<ConnectorCredential>, StoreError> {
                sqlx::query_as("SELECT id, name, digest, created_at, revoked_at FROM connector_credentials ORDER BY id")
                    .fetch_all(self.pool())
                    .await
                    .map_err(map_err)
            }

            async fn revoke_connector(&self, id: &ConnectorId, at: i64) -> Result<ConnectorCredential, StoreError> {
                sqlx::query_as(
                    "UPDATE connector_credentials SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1
                     RETURNING id, name, digest, created_at, revoked_at",
                )
                .bind(id)
                .bind(at)
                .fetch_optional(self.pool())
                .await
                .map_err(map_err)?
                .ok_or(StoreError::NotFound)
            }
        }
    };
}

pub(crate) use connectors;
