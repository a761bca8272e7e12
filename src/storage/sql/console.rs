//! The operator console's own tables (operators, sessions, the audit record) and its reads
//! across every client.
use crate::domain::connection::Connection;
use crate::domain::ids::{ApiKeyId, ClientId, ConnectionId, OperatorId};
use crate::domain::operator::{AuditEntry, ConnectionSearch, Counts, Operator, Session};
use crate::domain::token::IssuedToken;
use crate::storage::StoreError;

store_trait! {
/// The operator console: operators, their sessions, the record of their actions, and the
/// reads across every client that only the console makes.
pub trait ConsoleStore {
    /// `Conflict` when an operator has that name already.
    async fn create_operator(&self, operator: &Operator) -> Result<(), StoreError>;
    async fn find_operator_by_name(&self, name: &str) -> Result<Option<Operator>, StoreError>;
    /// Every operator, oldest first.
    async fn list_operators(&self) -> Result<Vec<Operator>, StoreError>;
    /// Deletes an operator and every session of theirs; `false` when there was none.
    async fn remove_operator(&self, name: &str) -> Result<bool, StoreError>;
    /// Sets an operator's one-time sign-in link (the digest of its secret), replacing any other.
    async fn set_sign_in_link(&self, id: &OperatorId, digest: &[u8], expires_at: i64) -> Result<(), StoreError>;
    /// Uses up a sign-in link: the operator whose unexpired link has this digest, whose link is
    /// then gone; `None` when there is no such link. Of two uses at once, one gets it.
    async fn redeem_sign_in_link(&self, digest: &[u8], now: i64) -> Result<Option<Operator>, StoreError>;
    async fn create_session(&self, digest: &[u8], operator: &OperatorId, now: i64) -> Result<(), StoreError>;
    /// The live session with this digest, its last use set to `now`: `None` (and the session
    /// deleted) when it is unknown, idle since `idle_since` or older than `born_after`.
    async fn touch_session(
        &self,
        digest: &[u8],
        now: i64,
        idle_since: i64,
        born_after: i64,
    ) -> Result<Option<Session>, StoreError>;
    async fn delete_session(&self, digest: &[u8]) -> Result<(), StoreError>;
    async fn record_audit(&self, entry: &AuditEntry) -> Result<(), StoreError>;
    /// Console actions, newest first: at most `limit` older than `before`.
    async fn list_audit(&self, before: Option<&str>, limit: u32) -> Result<Vec<AuditEntry>, StoreError>;
    /// Every client's connections matching `search`, newest first: at most `limit` with ids
    /// below `before` (keyset paging).
    async fn search_connections(
        &self,
        search: &ConnectionSearch,
        before: Option<&ConnectionId>,
        limit: u32,
    ) -> Result<Vec<Connection>, StoreError>;
    async fn counts(&self) -> Result<Counts, StoreError>;
    /// Tokens recorded with a jti at or above `from_jti` (the ids of tokens minted since a
    /// time), by minute (`issued_at / 60`) and count.
    async fn tokens_by_minute(&self, from_jti: &str) -> Result<Vec<(i64, i64)>, StoreError>;
    /// When each of a client's API keys was last used, by key id.
    async fn api_keys_last_used(&self, client: &ClientId) -> Result<Vec<(ApiKeyId, Option<i64>)>, StoreError>;
    /// A connection's live tokens (not revoked, expiring after `now`), newest first.
    async fn live_tokens(
        &self,
        connection: &ConnectionId,
        now: i64,
        limit: u32,
    ) -> Result<Vec<IssuedToken>, StoreError>;
}
}

/// Implements [`crate::storage::ConsoleStore`] for a backend.
macro_rules! console {
    ($store:ty) => {
        const OPERATOR_COLUMNS: &str = "id, name, password_hash, created_at";

        #[async_trait::async_trait]
        impl $crate::storage::ConsoleStore for $store {
            async fn create_operator(
                &self,
                operator: &$crate::domain::operator::Operator,
            ) -> Result<(), StoreError> {
                sqlx::query("INSERT INTO operators (id, name, password_hash, created_at) VALUES ($1, $2, $3, $4)")
                    .bind(&operator.id)
                    .bind(&operator.name)
                    .bind(operator.password_hash.as_deref())
                    .bind(operator.created_at)
                    .execute(self.pool())
                    .await
                    .map_err(map_err)?;
                Ok(())
            }

            async fn find_operator_by_name(
                &self,
                name: &str,
            ) -> Result<Option<$crate::domain::operator::Operator>, StoreError> {
                sqlx::query_as(&format!("SELECT {OPERATOR_COLUMNS} FROM operators WHERE name = $1"))
                    .bind(name)
                    .fetch_optional(self.pool())
                    .await
                    .map_err(map_err)
            }

            async fn list_operators(&self) -> Result<Vec<$crate::domain::operator::Operator>, StoreError> {
                sqlx::query_as(&format!("SELECT {OPERATOR_COLUMNS} FROM operators ORDER BY id"))
                    .fetch_all(self.pool())
                    .await
                    .map_err(map_err)
            }

            async fn remove_operator(&self, name: &str) -> Result<bool, StoreError> {
                let mut tx = self.begin_write(WriteLock::None).await?;
                sqlx::query("DELETE FROM operator_sessions WHERE operator_id IN (SELECT id FROM operators WHERE name = $1)")
                    .bind(name)
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?;
                let done = sqlx::query("DELETE FROM operators WHERE name = $1")
                    .bind(name)
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?;
                tx.commit().await.map_err(map_err)?;
                Ok(done.rows_affected() > 0)
            }

            async fn set_sign_in_link(
                &self,
                id: &$crate::domain::ids::OperatorId,
                digest: &[u8],
                expires_at: i64,
            ) -> Result<(), StoreError> {
                let done = sqlx::query("UPDATE operators SET link_digest = $2, link_expires_at = $3 WHERE id = $1")
                    .bind(id)
                    .bind(digest)
                    .bind(expires_at)
                    .execute(self.pool())
                    .await
                    .map_err(map_err)?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::NotFound);
                }
                Ok(())
            }

            async fn redeem_sign_in_link(
                &self,
                digest: &[u8],
                now: i64,
            ) -> Result<Option<$crate::domain::operator::Operator>, StoreError> {
                sqlx::query_as(&format!(
                    "UPDATE operators SET link_digest = NULL, link_expires_at = NULL
                     WHERE link_digest = $1 AND link_expires_at > $2 RETURNING {OPERATOR_COLUMNS}"
                ))
                .bind(digest)
                .bind(now)
                .fetch_optional(self.pool())
                .await
                .map_err(map_err)
            }

            async fn create_session(
                &self,
                digest: &[u8],
                operator: &$crate::domain::ids::OperatorId,
                now: i64,
            ) -> Result<(), StoreError> {
                sqlx::query(
                    "INSERT INTO operator_sessions (digest, operator_id, created_at, last_seen_at) VALUES ($1, $2, $3, $3)",
                )
                .bind(digest)
                .bind(operator)
                .bind(now)
                .execute(self.pool())
                .await
                .map_err(map_err)?;
                Ok(())
            }

            async fn touch_session(
                &self,
                digest: &[u8],
                now: i64,
                idle_since: i64,
                born_after: i64,
            ) -> Result<Option<$crate::domain::operator::Session>, StoreError> {
                let live: Option<(String, i64)> = sqlx::query_as(
                    "UPDATE operator_sessions SET last_seen_at = $2
                     WHERE digest = $1 AND last_seen_at > $3 AND created_at > $4
                     RETURNING operator_id, created_at",
                )
                .bind(digest)
                .bind(now)
                .bind(idle_since)
                .bind(born_after)
                .fetch_optional(self.pool())
                .await
                .map_err(map_err)?;
                let Some((operator_id, created_at)) = live else {
                    // Unknown, or expired: an expired session is gone for good.
                    sqlx::query("DELETE FROM operator_sessions WHERE digest = $1")
                        .bind(digest)
                        .execute(self.pool())
                        .await
                        .map_err(map_err)?;
                    return Ok(None);
                };
                let operator: Option<$crate::domain::operator::Operator> =
                    sqlx::query_as(&format!("SELECT {OPERATOR_COLUMNS} FROM operators WHERE id = $1"))
                        .bind(operator_id)
                        .fetch_optional(self.pool())
                        .await
                        .map_err(map_err)?;
                Ok(operator.map(|operator| $crate::domain::operator::Session { operator, created_at }))
            }

            async fn delete_session(&self, digest: &[u8]) -> Result<(), StoreError> {
                sqlx::query("DELETE FROM operator_sessions WHERE digest = $1")
                    .bind(digest)
                    .execute(self.pool())
                    .await
                    .map_err(map_err)?;
                Ok(())
            }

            async fn record_audit(&self, entry: &$crate::domain::operator::AuditEntry) -> Result<(), StoreError> {
                let mut conn = self.pool().acquire().await.map_err(map_err)?;
                insert_audit(&mut conn, entry).await
            }

            async fn list_audit(
                &self,
                before: Option<&str>,
                limit: u32,
            ) -> Result<Vec<$crate::domain::operator::AuditEntry>, StoreError> {
                let sql = match before {
                    Some(_) => "SELECT id, operator, action, target, at FROM console_audit WHERE id < $2 ORDER BY id DESC LIMIT $1",
                    None => "SELECT id, operator, action, target, at FROM console_audit ORDER BY id DESC LIMIT $1",
                };
                let mut q = sqlx::query_as(sql).bind(i64::from(limit));
                if let Some(before) = before {
                    q = q.bind(before);
                }
                q.fetch_all(self.pool()).await.map_err(map_err)
            }

            async fn search_connections(
                &self,
                search: &$crate::domain::operator::ConnectionSearch,
                before: Option<&ConnectionId>,
                limit: u32,
            ) -> Result<Vec<Connection>, StoreError> {
                // One statement per combination of filters, so each uses its index
                // (customer_id, id), (status, id) or the primary key, newest first.
                let mut filters = Vec::new();
                let mut n = 1;
                if search.customer_id.is_some() {
                    n += 1;
                    filters.push(format!("customer_id = ${n}"));
                }
                if search.status.is_some() {
                    n += 1;
                    filters.push(format!("status = ${n}"));
                }
                if before.is_some() {
                    n += 1;
                    filters.push(format!("id < ${n}"));
                }
                let filter =
                    if filters.is_empty() { String::new() } else { format!(" WHERE {}", filters.join(" AND ")) };
                let sql = format!("SELECT {CONNECTION_COLUMNS} FROM connections{filter} ORDER BY id DESC LIMIT $1");
                let mut q = sqlx::query_as(&sql).bind(i64::from(limit));
                if let Some(customer) = &search.customer_id {
                    q = q.bind(customer);
                }
                if let Some(status) = search.status {
                    q = q.bind(status.as_str());
                }
                if let Some(before) = before {
                    q = q.bind(before);
                }
                q.fetch_all(self.pool()).await.map_err(map_err)
            }

            async fn counts(&self) -> Result<$crate::domain::operator::Counts, StoreError> {
                let (clients, live_keys): (i64, i64) = sqlx::query_as(
                    "SELECT (SELECT COUNT(*) FROM clients), (SELECT COUNT(*) FROM api_keys WHERE revoked_at IS NULL)",
                )
                .fetch_one(self.pool())
                .await
                .map_err(map_err)?;
                let by_status: Vec<(String, i64)> =
                    sqlx::query_as("SELECT status, COUNT(*) FROM connections GROUP BY status")
                        .fetch_all(self.pool())
                        .await
                        .map_err(map_err)?;
                let connections = ConnectionStatus::ALL
                    .iter()
                    .map(|s| (*s, by_status.iter().find(|(name, _)| name == s.as_str()).map_or(0, |(_, n)| *n)))
                    .collect();
                Ok($crate::domain::operator::Counts { clients, live_keys, connections })
            }

            async fn tokens_by_minute(&self, from_jti: &str) -> Result<Vec<(i64, i64)>, StoreError> {
                sqlx::query_as(
                    "SELECT issued_at / 60, COUNT(*) FROM issued_tokens WHERE jti >= $1 GROUP BY issued_at / 60 ORDER BY 1",
                )
                .bind(from_jti)
                .fetch_all(self.pool())
                .await
                .map_err(map_err)
            }

            async fn api_keys_last_used(
                &self,
                client: &ClientId,
            ) -> Result<Vec<(ApiKeyId, Option<i64>)>, StoreError> {
                sqlx::query_as("SELECT id, last_used_at FROM api_keys WHERE client_id = $1")
                    .bind(client)
                    .fetch_all(self.pool())
                    .await
                    .map_err(map_err)
            }

            async fn live_tokens(
                &self,
                connection: &ConnectionId,
                now: i64,
                limit: u32,
            ) -> Result<Vec<IssuedToken>, StoreError> {
                sqlx::query_as(&format!(
                    "SELECT {ISSUED_SELECT} FROM issued_tokens
                     WHERE connection_id = $1 AND revoked_at IS NULL AND expires_at > $2 ORDER BY jti DESC LIMIT $3"
                ))
                .bind(connection)
                .bind(now)
                .bind(i64::from(limit))
                .fetch_all(self.pool())
                .await
                .map_err(map_err)
            }
        }
    };
}

pub(crate) use console;
