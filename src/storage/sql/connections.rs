//! Connections: each owned by one client, every change written with its activity event.
#[allow(unused_imports)]
use crate::storage::vocabulary::*;

store_trait! {
/// Connections, each owned by one client; every change is written with its activity event.
pub trait ConnectionStore {
    async fn create_connection(&self, connection: &Connection, change: &Change) -> Result<(), StoreError>;
    async fn find_connection(&self, client: &ClientId, id: &ConnectionId) -> Result<Option<Connection>, StoreError>;
    async fn list_connections(&self, client: &ClientId, customer_id: &str) -> Result<Vec<Connection>, StoreError>;
    /// Applies `patch` atomically; `None` when the connection does not exist for `client`.
    /// Disconnecting revokes every token issued for the connection, in the same transaction.
    async fn update_connection(
        &self,
        client: &ClientId,
        id: &ConnectionId,
        patch: &ConnectionPatch,
        change: &Change,
    ) -> Result<Option<Connection>, StoreError>;
    /// Deletes, revoking every token issued for it; `false` when the connection did not exist
    /// for `client`.
    async fn delete_connection(
        &self,
        client: &ClientId,
        id: &ConnectionId,
        change: &Change,
    ) -> Result<bool, StoreError>;
    /// Moves any client's connection to `to` as the lifecycle allows (the connector's verb),
    /// with its activity event, its webhook events and, into `disconnected`, the revocation
    /// of its tokens, all in one transaction.
    async fn set_connection_status(
        &self,
        id: &ConnectionId,
        to: ConnectionStatus,
        reason: Option<&str>,
        change: &Change,
    ) -> Result<StatusChange, StoreError>;
    /// Any client's connection (for the connector).
    async fn find_any_connection(&self, id: &ConnectionId) -> Result<Option<Connection>, StoreError>;
}
}

/// Implements [`crate::storage::ConnectionStore`] for a backend.
macro_rules! connections {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl $crate::storage::ConnectionStore for $store {
            async fn create_connection(&self, c: &Connection, change: &Change) -> Result<(), StoreError> {
                let mut tx = self.begin_write(WriteLock::None).await?;
                sqlx::query(&format!(
                    "INSERT INTO connections ({CONNECTION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
                ))
                .bind(&c.id)
                .bind(&c.client_id)
                .bind(&c.customer_id)
                .bind(&c.retailer_id)
                .bind(&c.email)
                .bind(&c.mobile)
                .bind(c.status.as_str())
                .bind(c.created_at)
                .bind(c.updated_at)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
                let data = serde_json::json!({"retailer_id": c.retailer_id, "status": c.status.as_str()});
                insert_event(&mut tx, &c.id, &c.client_id, "created", change, data).await?;
                emit_event(&mut tx, c, EventType::ConnectionCreated, change.at).await?;
                tx.commit().await.map_err(map_err)
            }

            async fn find_connection(&self, client: &ClientId, id: &ConnectionId) -> Result<Option<Connection>, StoreError> {
                sqlx::query_as(&format!("SELECT {CONNECTION_COLUMNS} FROM connections WHERE id = $1 AND client_id = $2"))
                    .bind(id)
                    .bind(client)
                    .fetch_optional(self.pool())
                    .await
                    .map_err(map_err)
            }

            async fn list_connections(&self, client: &ClientId, customer_id: &str) -> Result<Vec<Connection>, StoreError> {
                sqlx::query_as(&format!(
                    "SELECT {CONNECTION_COLUMNS} FROM connections WHERE client_id = $1 AND customer_id = $2 ORDER BY id"
                ))
                .bind(client)
                .bind(customer_id)
                .fetch_all(self.pool())
                .await
                .map_err(map_err)
            }

            async fn update_connection(
                &self,
                client: &ClientId,
                id: &ConnectionId,
                patch: &ConnectionPatch,
                change: &Change,
            ) -> Result<Option<Connection>, StoreError> {
                let at = change.at;
                let mut tx = self.begin_write(WriteLock::None).await?;
                let before: Option<String> = sqlx::query_scalar(&format!(
                    "SELECT status FROM connections WHERE id = $1 AND client_id = $2{}",
                    <$store as $crate::storage::sql::SqlBackend>::FOR_UPDATE
                ))
                .bind(id)
                .bind(client)
                .fetch_optional(&mut *tx)
                .await
                .map_err(map_err)?;
                // One statement, so concurrent patches each apply whole and never interleave.
                let updated: Option<Connection> = sqlx::query_as(&format!(
                    "UPDATE connections SET
                       customer_id = CASE WHEN $3 THEN $4 ELSE customer_id END,
                       email       = CASE WHEN $5 THEN $6 ELSE email END,
                       mobile      = CASE WHEN $7 THEN $8 ELSE mobile END,
                       status      = CASE WHEN $9 THEN $10 ELSE status END,
                       updated_at  = $11
                     WHERE id = $1 AND client_id = $2
                     RETURNING {CONNECTION_COLUMNS}"
                ))
                .bind(id)
                .bind(client)
                .bind(patch.customer_id.is_some())
                .bind(patch.customer_id.as_deref())
                .bind(patch.email.is_some())
                .bind(patch.email.clone().flatten())
                .bind(patch.mobile.is_some())
                .bind(patch.mobile.clone().flatten())
                .bind(patch.status.is_some())
                .bind(patch.status.map(|s| s.as_str()))
                .bind(at)
                .fetch_optional(&mut *tx)
                .await
                .map_err(map_err)?;
                let Some(c) = updated else { return Ok(None) };
                let fields: Vec<&str> = [
                    ("customer_id", patch.customer_id.is_some()),
                    ("email", patch.email.is_some()),
                    ("mobile", patch.mobile.is_some()),
                ]
                .into_iter()
                .filter_map(|(name, set)| set.then_some(name))
                .collect();
                if !fields.is_empty() {
                    insert_event(&mut tx, id, client, "updated", change, serde_json::json!({"fields": fields})).await?;
                }
                let from = before.unwrap_or_default();
                if from != c.status.as_str() {
                    let mut data = serde_json::json!({"from": from, "to": c.status.as_str()});
                    if c.status == ConnectionStatus::Disconnected {
                        data["tokens_revoked"] = revoke_connection_tokens(&mut tx, client, id, at).await?.into();
                    }
                    insert_event(&mut tx, id, client, "status_changed", change, data).await?;
                    if let Some(kind) = EventType::for_status(c.status) {
                        emit_event(&mut tx, &c, kind, at).await?;
                    }
                }
                tx.commit().await.map_err(map_err)?;
                Ok(Some(c))
            }

            async fn delete_connection(&self, client: &ClientId, id: &ConnectionId, change: &Change) -> Result<bool, StoreError> {
                let mut tx = self.begin_write(WriteLock::None).await?;
                let deleted: Option<Connection> = sqlx::query_as(&format!(
                    "DELETE FROM connections WHERE id = $1 AND client_id = $2 RETURNING {CONNECTION_COLUMNS}"
                ))
                .bind(id)
                .bind(client)
                .fetch_optional(&mut *tx)
                .await
                .map_err(map_err)?;
                let Some(deleted) = deleted else { return Ok(false) };
                let revoked = revoke_connection_tokens(&mut tx, client, id, change.at).await?;
                // A deleted connection's purchases go with it.
                sqlx::query("DELETE FROM purchases WHERE connection_id = $1").bind(id).execute(&mut *tx).await.map_err(map_err)?;
                insert_event(&mut tx, id, client, "deleted", change, serde_json::json!({"tokens_revoked": revoked})).await?;
                emit_event(&mut tx, &deleted, EventType::ConnectionDeleted, change.at).await?;
                tx.commit().await.map_err(map_err)?;
                Ok(true)
            }

            async fn set_connection_status(
                &self,
                id: &ConnectionId,
                to: ConnectionStatus,
                reason: Option<&str>,
                change: &Change,
            ) -> Result<StatusChange, StoreError> {
                let mut tx = self.begin_write(WriteLock::None).await?;
                let current: Option<Connection> = sqlx::query_as(&format!(
                    "SELECT {CONNECTION_COLUMNS} FROM connections WHERE id = $1{}",
                    <$store as $crate::storage::sql::SqlBackend>::FOR_UPDATE
                ))
                .bind(id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(map_err)?;
                let Some(current) = current else { return Ok(StatusChange::NotFound) };
                let from = current.status;
                if from == to {
                    return Ok(StatusChange::Unchanged(current));
                }
                if !from.can_move_to(to) {
                    return Ok(StatusChange::Refused { from, to });
                }
                let moved: Connection = sqlx::query_as(&format!(
                    "UPDATE connections SET status = $2, updated_at = $3 WHERE id = $1 RETURNING {CONNECTION_COLUMNS}"
                ))
                .bind(id)
                .bind(to.as_str())
                .bind(change.at)
                .fetch_one(&mut *tx)
                .await
                .map_err(map_err)?;
                let client = &moved.client_id;
                let mut data = serde_json::json!({"from": from.as_str(), "to": to.as_str()});
                if let Some(reason) = reason {
                    data["reason"] = serde_json::json!(reason);
                }
                if to == ConnectionStatus::Disconnected {
                    data["tokens_revoked"] = revoke_connection_tokens(&mut tx, client, id, change.at).await?.into();
                }
                insert_event(&mut tx, id, client, "status_changed", change, data).await?;
                if let Some(kind) = EventType::for_status(to) {
                    emit_event(&mut tx, &moved, kind, change.at).await?;
                }
                tx.commit().await.map_err(map_err)?;
                Ok(StatusChange::Moved { from, connection: moved })
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
