//! Connections, each owned by one client: the reads. Changes are the core's, written through
//! the unit of work (`work.rs`).
use crate::domain::connection::Connection;
use crate::domain::ids::{ClientId, ConnectionId};
use crate::storage::StoreError;

store_trait! {
/// Connections, each owned by one client: the reads.
pub trait ConnectionStore {
    async fn find_connection(&self, client: &ClientId, id: &ConnectionId) -> Result<Option<Connection>, StoreError>;
    async fn list_connections(&self, client: &ClientId, customer_id: &str) -> Result<Vec<Connection>, StoreError>;
    /// Any client's connection (for the connector).
    async fn find_any_connection(&self, id: &ConnectionId) -> Result<Option<Connection>, StoreError>;
}
}

/// Implements [`crate::storage::ConnectionStore`] for a backend.
macro_rules! connections {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl $crate::storage::ConnectionStore for $store {
            async fn find_connection(
                &self,
                client: &ClientId,
                id: &ConnectionId,
            ) -> Result<Option<Connection>, StoreError> {
                sqlx::query_as(&format!(
                    "SELECT {CONNECTION_COLUMNS} FROM connections WHERE id = $1 AND client_id = $2"
                ))
                .bind(id)
                .bind(client)
                .fetch_optional(self.pool())
                .await
                .map_err(map_err)
            }

            async fn list_connections(
                &self,
                client: &ClientId,
                customer_id: &str,
            ) -> Result<Vec<Connection>, StoreError> {
                sqlx::query_as(&format!(
                    "SELECT {CONNECTION_COLUMNS} FROM connections WHERE client_id = $1 AND customer_id = $2 ORDER BY id"
                ))
                .bind(client)
                .bind(customer_id)
                .fetch_all(self.pool())
                .await
                .map_err(map_err)
            }

            async fn find_any_connection(&self, id: &ConnectionId) -> Result<Option<Connection>, StoreError> {
                sqlx::query_as(&format!("SELECT {CONNECTION_COLUMNS} FROM connections WHERE id = $1"))
                    .bind(id)
                    .fetch_optional(self.pool())
                    .await
                    .map_err(map_err)
            }
        }
    };
}

pub(crate) use connections;
