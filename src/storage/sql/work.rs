//! The unit of work: one write transaction in which the core reads the rows it is about to
//! change (locked until the commit), writes rows back, appends activity entries, webhook
//! events and audit entries, and commits. Every verb is one row-level statement: which rows
//! change, and what the entries say, is the core's to decide. Dropped without a commit, the
//! work is rolled back.
use async_trait::async_trait;

use crate::domain::api_key::ApiKeyRecord;
use crate::domain::client::Client;
use crate::domain::connection::Connection;
use crate::domain::event::NewActivity;
use crate::domain::ids::{ApiKeyId, ClientId, ConnectionId, TokenId};
use crate::domain::link::LinkSession;
use crate::domain::operator::AuditEntry;
use crate::domain::partner::PartnerGrant;
use crate::domain::purchase::Purchase;
use crate::domain::token::IssuedToken;
use crate::domain::webhook::OutboxEvent;
use crate::storage::StoreError;

/// One write transaction's row-level verbs (see the module's documentation).
#[async_trait]
pub trait Work: Send {
    /// A connection, locked against other writers until this work ends.
    async fn lock_connection(&mut self, id: &ConnectionId) -> Result<Option<Connection>, StoreError>;
    async fn insert_connection(&mut self, connection: &Connection) -> Result<(), StoreError>;
    /// Writes every field of a connection the core may change.
    async fn save_connection(&mut self, connection: &Connection) -> Result<(), StoreError>;
    async fn delete_connection(&mut self, id: &ConnectionId) -> Result<(), StoreError>;
    /// Deletes a connection's purchases; how many.
    async fn delete_purchases(&mut self, connection: &ConnectionId) -> Result<u64, StoreError>;
    /// Revokes every live token of a connection at `at`; how many.
    async fn revoke_tokens(&mut self, client: &ClientId, connection: &ConnectionId, at: i64)
    -> Result<u64, StoreError>;
    /// Appends an entry to a connection's activity log.
    async fn append_activity(&mut self, entry: &NewActivity) -> Result<(), StoreError>;
    /// Puts a webhook event in the outbox, with one delivery for every active webhook of its
    /// client subscribed to its type; nothing when none is. Whether any was.
    async fn enqueue(&mut self, event: &OutboxEvent) -> Result<bool, StoreError>;
    async fn record_audit(&mut self, entry: &AuditEntry) -> Result<(), StoreError>;
    async fn insert_api_key(&mut self, key: &ApiKeyRecord) -> Result<(), StoreError>;
    /// An API key, locked: token issuance that already checked it finishes first (see
    /// `issuance_sql`), and none checks it again until this work ends.
    async fn lock_api_key(&mut self, id: &ApiKeyId) -> Result<Option<ApiKeyRecord>, StoreError>;
    /// Writes an API key's revocation time.
    async fn save_api_key(&mut self, key: &ApiKeyRecord) -> Result<(), StoreError>;
    /// `Conflict` when the partner already has a live grant for that client.
    async fn insert_partner_grant(&mut self, grant: &PartnerGrant) -> Result<(), StoreError>;
    async fn find_partner_grant(&mut self, id: &str) -> Result<Option<PartnerGrant>, StoreError>;
    /// Writes a grant's revocation time.
    async fn save_partner_grant(&mut self, grant: &PartnerGrant) -> Result<(), StoreError>;
    /// Inserts a purchase (its connection and client named in it); `false`, and nothing
    /// written, when the connection already has one with its `purchase_id`.
    async fn insert_purchase(&mut self, purchase: &Purchase, at: i64) -> Result<bool, StoreError>;
    /// Replaces the purchase the connection has with `purchase`'s `purchase_id`.
    async fn update_purchase(&mut self, purchase: &Purchase, at: i64) -> Result<(), StoreError>;
    /// A client, locked.
    async fn lock_client(&mut self, id: &ClientId) -> Result<Option<Client>, StoreError>;
    /// Writes a client's name.
    async fn save_client(&mut self, client: &Client) -> Result<(), StoreError>;
    /// The Link session with this reference digest, locked.
    async fn lock_link_session(&mut self, reference_digest: &[u8]) -> Result<Option<LinkSession>, StoreError>;
    /// Writes a session's changing fields (state, reason, connection, time).
    async fn save_link_session(&mut self, session: &LinkSession) -> Result<(), StoreError>;
    /// An issued token's record, locked.
    async fn lock_issued_token(&mut self, jti: &TokenId) -> Result<Option<IssuedToken>, StoreError>;
    /// Writes a token's revocation time.
    async fn save_issued_token(&mut self, token: &IssuedToken) -> Result<(), StoreError>;
    async fn commit(self: Box<Self>) -> Result<(), StoreError>;
}

/// Where units of work begin.
#[async_trait]
pub trait WorkStore: Send + Sync {
    /// A write transaction (on SQLite, the database's one writer; on PostgreSQL, row locks).
    async fn begin_work(&self) -> Result<Box<dyn Work>, StoreError>;
}

/// Implements [`WorkStore`] for a backend.
macro_rules! work {
    ($store:ty) => {
        /// A unit of work on this backend: its write transaction.
        struct SqlWork(sqlx::Transaction<'static, <$store as $crate::storage::sql::SqlBackend>::Db>);

        #[async_trait::async_trait]
        impl $crate::storage::WorkStore for $store {
            async fn begin_work(&self) -> Result<Box<dyn $crate::storage::Work>, StoreError> {
                Ok(Box::new(SqlWork(self.begin_write(WriteLock::None).await?)))
            }
        }

        #[async_trait::async_trait]
        impl $crate::storage::Work for SqlWork {
            async fn lock_connection(&mut self, id: &ConnectionId) -> Result<Option<Connection>, StoreError> {
                sqlx::query_as(&format!(
                    "SELECT {CONNECTION_COLUMNS} FROM connections WHERE id = $1{}",
                    <$store as $crate::storage::sql::SqlBackend>::FOR_UPDATE
                ))
                .bind(id)
                .fetch_optional(&mut *self.0)
                .await
                .map_err(map_err)
            }

            async fn insert_connection(&mut self, c: &Connection) -> Result<(), StoreError> {
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
                .execute(&mut *self.0)
                .await
                .map_err(map_err)?;
                Ok(())
            }

            async fn save_connection(&mut self, c: &Connection) -> Result<(), StoreError> {
                sqlx::query(
                    "UPDATE connections SET customer_id = $2, email = $3, mobile = $4, status = $5, updated_at = $6
                     WHERE id = $1",
                )
                .bind(&c.id)
                .bind(&c.customer_id)
                .bind(&c.email)
                .bind(&c.mobile)
                .bind(c.status.as_str())
                .bind(c.updated_at)
                .execute(&mut *self.0)
                .await
                .map_err(map_err)?;
                Ok(())
            }

            async fn delete_connection(&mut self, id: &ConnectionId) -> Result<(), StoreError> {
                sqlx::query("DELETE FROM connections WHERE id = $1")
                    .bind(id)
                    .execute(&mut *self.0)
                    .await
                    .map_err(map_err)?;
                Ok(())
            }

            async fn delete_purchases(&mut self, connection: &ConnectionId) -> Result<u64, StoreError> {
                let done = sqlx::query("DELETE FROM purchases WHERE connection_id = $1")
                    .bind(connection)
                    .execute(&mut *self.0)
                    .await
                    .map_err(map_err)?;
                Ok(done.rows_affected())
            }

            async fn revoke_tokens(
                &mut self,
                client: &ClientId,
                connection: &ConnectionId,
                at: i64,
            ) -> Result<u64, StoreError> {
                revoke_connection_tokens(&mut self.0, client, connection, at).await
            }

            async fn append_activity(&mut self, e: &$crate::domain::event::NewActivity) -> Result<(), StoreError> {
                sqlx::query(
                    "INSERT INTO connection_events (id, connection_id, client_id, kind, at, api_key_id, data)
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(&e.id)
                .bind(&e.connection_id)
                .bind(&e.client_id)
                .bind(e.kind)
                .bind(e.at)
                .bind(e.api_key_id.as_ref())
                .bind(e.data.to_string())
                .execute(&mut *self.0)
                .await
                .map_err(map_err)?;
                Ok(())
            }

            async fn enqueue(&mut self, e: &$crate::domain::webhook::OutboxEvent) -> Result<bool, StoreError> {
                enqueue_event(&mut self.0, e).await
            }

            async fn record_audit(&mut self, entry: &$crate::domain::operator::AuditEntry) -> Result<(), StoreError> {
                insert_audit(&mut self.0, entry).await
            }

            async fn insert_api_key(&mut self, key: &ApiKeyRecord) -> Result<(), StoreError> {
                insert_api_key(&mut self.0, key).await
            }

            async fn lock_api_key(&mut self, id: &ApiKeyId) -> Result<Option<ApiKeyRecord>, StoreError> {
                sqlx::query_as(&format!(
                    "SELECT {API_KEY_COLUMNS} FROM api_keys WHERE id = $1{}",
                    <$store as $crate::storage::sql::SqlBackend>::FOR_UPDATE
                ))
                .bind(id)
                .fetch_optional(&mut *self.0)
                .await
                .map_err(map_err)
            }

            async fn save_api_key(&mut self, key: &ApiKeyRecord) -> Result<(), StoreError> {
                sqlx::query("UPDATE api_keys SET revoked_at = $2 WHERE id = $1")
                    .bind(&key.id)
                    .bind(key.revoked_at)
                    .execute(&mut *self.0)
                    .await
                    .map_err(map_err)?;
                Ok(())
            }

            async fn insert_partner_grant(
                &mut self,
                grant: &$crate::domain::partner::PartnerGrant,
            ) -> Result<(), StoreError> {
                sqlx::query(&format!(
                    "INSERT INTO partner_grants ({PARTNER_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"
                ))
                .bind(&grant.id)
                .bind(&grant.issuer)
                .bind(&grant.partner_client_id)
                .bind(&grant.client_id)
                .bind(&grant.api_key_id)
                .bind(grant.created_at)
                .bind(grant.revoked_at)
                .execute(&mut *self.0)
                .await
                .map_err(map_err)?;
                Ok(())
            }

            async fn find_partner_grant(
                &mut self,
                id: &str,
            ) -> Result<Option<$crate::domain::partner::PartnerGrant>, StoreError> {
                sqlx::query_as(&format!("SELECT {PARTNER_COLUMNS} FROM partner_grants WHERE id = $1"))
                    .bind(id)
                    .fetch_optional(&mut *self.0)
                    .await
                    .map_err(map_err)
            }

            async fn save_partner_grant(
                &mut self,
                grant: &$crate::domain::partner::PartnerGrant,
            ) -> Result<(), StoreError> {
                sqlx::query("UPDATE partner_grants SET revoked_at = $2 WHERE id = $1")
                    .bind(&grant.id)
                    .bind(grant.revoked_at)
                    .execute(&mut *self.0)
                    .await
                    .map_err(map_err)?;
                Ok(())
            }

            async fn insert_purchase(
                &mut self,
                p: &$crate::domain::purchase::Purchase,
                at: i64,
            ) -> Result<bool, StoreError> {
                let inserted: Option<i64> = sqlx::query_scalar(
                    "INSERT INTO purchases (connection_id, purchase_id, client_id, date, date_key, total, tax,
                                            subtotal, item_count, items, created_at, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11)
                     ON CONFLICT (connection_id, purchase_id) DO NOTHING
                     RETURNING item_count",
                )
                .bind(&p.connection_id)
                .bind(&p.purchase_id)
                .bind(&p.client_id)
                .bind(&p.date)
                .bind(p.date_key)
                .bind(&p.total)
                .bind(&p.tax)
                .bind(&p.subtotal)
                .bind(p.item_count)
                .bind(p.items.to_string())
                .bind(at)
                .fetch_optional(&mut *self.0)
                .await
                .map_err(map_err)?;
                Ok(inserted.is_some())
            }

            async fn update_purchase(
                &mut self,
                p: &$crate::domain::purchase::Purchase,
                at: i64,
            ) -> Result<(), StoreError> {
                sqlx::query(
                    "UPDATE purchases SET date = $3, date_key = $4, total = $5, tax = $6, subtotal = $7,
                            item_count = $8, items = $9, updated_at = $10
                     WHERE connection_id = $1 AND purchase_id = $2",
                )
                .bind(&p.connection_id)
                .bind(&p.purchase_id)
                .bind(&p.date)
                .bind(p.date_key)
                .bind(&p.total)
                .bind(&p.tax)
                .bind(&p.subtotal)
                .bind(p.item_count)
                .bind(p.items.to_string())
                .bind(at)
                .execute(&mut *self.0)
                .await
                .map_err(map_err)?;
                Ok(())
            }

            async fn lock_client(&mut self, id: &ClientId) -> Result<Option<Client>, StoreError> {
                sqlx::query_as(&format!(
                    "SELECT id, name, created_at FROM clients WHERE id = $1{}",
                    <$store as $crate::storage::sql::SqlBackend>::FOR_UPDATE
                ))
                .bind(id)
                .fetch_optional(&mut *self.0)
                .await
                .map_err(map_err)
            }

            async fn save_client(&mut self, client: &Client) -> Result<(), StoreError> {
                sqlx::query("UPDATE clients SET name = $2 WHERE id = $1")
                    .bind(&client.id)
                    .bind(&client.name)
                    .execute(&mut *self.0)
                    .await
                    .map_err(map_err)?;
                Ok(())
            }

            async fn lock_link_session(
                &mut self,
                reference_digest: &[u8],
            ) -> Result<Option<$crate::domain::link::LinkSession>, StoreError> {
                sqlx::query_as(&format!(
                    "SELECT {} FROM link_sessions WHERE reference_digest = $1{}",
                    $crate::storage::sql::link::LINK_SESSION_COLUMNS,
                    <$store as $crate::storage::sql::SqlBackend>::FOR_UPDATE
                ))
                .bind(reference_digest)
                .fetch_optional(&mut *self.0)
                .await
                .map_err(map_err)
            }

            async fn save_link_session(&mut self, s: &$crate::domain::link::LinkSession) -> Result<(), StoreError> {
                sqlx::query(
                    "UPDATE link_sessions SET state = $2, reason = $3, updated_at = $4, connection_id = $5 WHERE id = $1",
                )
                .bind(&s.id)
                .bind(s.state.as_str())
                .bind(&s.reason)
                .bind(s.updated_at)
                .bind(&s.connection_id)
                .execute(&mut *self.0)
                .await
                .map_err(map_err)?;
                Ok(())
            }

            async fn lock_issued_token(&mut self, jti: &TokenId) -> Result<Option<IssuedToken>, StoreError> {
                sqlx::query_as(&format!(
                    "SELECT {ISSUED_SELECT} FROM issued_tokens WHERE jti = $1{}",
                    <$store as $crate::storage::sql::SqlBackend>::FOR_UPDATE
                ))
                .bind(jti)
                .fetch_optional(&mut *self.0)
                .await
                .map_err(map_err)
            }

            async fn save_issued_token(&mut self, token: &IssuedToken) -> Result<(), StoreError> {
                sqlx::query("UPDATE issued_tokens SET revoked_at = $2 WHERE jti = $1")
                    .bind(&token.jti)
                    .bind(token.revoked_at)
                    .execute(&mut *self.0)
                    .await
                    .map_err(map_err)?;
                Ok(())
            }

            async fn commit(self: Box<Self>) -> Result<(), StoreError> {
                self.0.commit().await.map_err(map_err)
            }
        }
    };
}

pub(crate) use work;
