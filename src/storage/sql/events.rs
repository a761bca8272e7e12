//! Each connection's activity log: its own events, and its issued tokens read as
//! `token_issued` events.
use crate::domain::event::Event;
use crate::domain::ids::{ClientId, ConnectionId};
use crate::storage::StoreError;

store_trait! {
/// Each connection's activity log.
pub trait EventStore {
    /// A connection's activity, newest first: at most `limit` events older than `before`.
    async fn list_events(
        &self,
        client: &ClientId,
        connection: &ConnectionId,
        before: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Event>, StoreError>;
}
}

/// Implements [`crate::storage::EventStore`] for a backend.
macro_rules! events {
    ($store:ty) => {
        /// `data` is JSON kept as text, which both backends compare and store alike.
        fn event_from(row: &DbRow) -> Result<Event, StoreError> {
            let data: String = row.try_get("data").map_err(map_err)?;
            Ok(Event {
                event_id: row.try_get("id").map_err(map_err)?,
                kind: row.try_get("kind").map_err(map_err)?,
                at: row.try_get("at").map_err(map_err)?,
                api_key_id: row.try_get("api_key_id").map_err(map_err)?,
                data: serde_json::from_str(&data).map_err(|e| StoreError::Corrupt($crate::storage::cause(e)))?,
            })
        }

        #[async_trait::async_trait]
        impl $crate::storage::EventStore for $store {
            async fn list_events(
                &self,
                client: &ClientId,
                connection: &ConnectionId,
                before: Option<&str>,
                limit: u32,
            ) -> Result<Vec<Event>, StoreError> {
                // A token's issuance is its issued_tokens row (its jti is the event id).
                sqlx::query(
                    "SELECT id, kind, at, api_key_id, data FROM (
                         SELECT id, kind, at, api_key_id, data FROM connection_events
                         WHERE connection_id = $1 AND client_id = $2 AND ($3 IS NULL OR id < $3)
                         UNION ALL
                         SELECT jti, 'token_issued', issued_at, api_key_id,
                                '{\"jti\": \"' || jti || '\", \"exp\": ' || expires_at || '}'
                         FROM issued_tokens
                         WHERE connection_id = $1 AND client_id = $2 AND ($3 IS NULL OR jti < $3)
                     ) AS events
                     ORDER BY id DESC LIMIT $4",
                )
                .bind(connection)
                .bind(client)
                .bind(before)
                .bind(i64::from(limit))
                .fetch_all(self.pool())
                .await
                .map_err(map_err)?
                .iter()
                .map(event_from)
                .collect()
            }
        }
    };
}

pub(crate) use events;
