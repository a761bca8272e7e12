//! Link: link tokens, redirect URLs, the connector's sign-in pages, and Link sessions (whose
//! completion is the core's, over the unit of work).
use crate::domain::ids::{ClientId, ConnectorId};
use crate::domain::link::{ConnectorLinkUrl, LinkSession, LinkToken, RedirectUrl, SessionState};
use crate::storage::StoreError;

store_trait! {
/// Link tokens, redirect URLs, connector sign-in pages and Link sessions.
pub trait LinkStore {
    async fn create_link_token(&self, token: &LinkToken) -> Result<(), StoreError>;
    async fn find_link_token(&self, digest: &[u8]) -> Result<Option<LinkToken>, StoreError>;
    /// A customer's link tokens, oldest first.
    async fn list_link_tokens(&self, client: &ClientId, customer_id: &str) -> Result<Vec<LinkToken>, StoreError>;
    /// Marks a client's token revoked (idempotent); `false` when the client has no such token.
    async fn revoke_link_token(&self, client: &ClientId, digest: &[u8], at: i64) -> Result<bool, StoreError>;
    /// Registers a redirect URL; `false` when it was registered already.
    async fn add_redirect_url(&self, url: &RedirectUrl) -> Result<bool, StoreError>;
    async fn list_redirect_urls(&self, client: &ClientId) -> Result<Vec<RedirectUrl>, StoreError>;
    /// `false` when the URL was not registered.
    async fn remove_redirect_url(&self, client: &ClientId, url: &str) -> Result<bool, StoreError>;
    /// Replaces a connector's sign-in pages with `urls` (none: it serves no sign-in).
    async fn set_connector_link_urls(&self, connector: &ConnectorId, urls: &[ConnectorLinkUrl]) -> Result<(), StoreError>;
    async fn list_connector_link_urls(&self) -> Result<Vec<ConnectorLinkUrl>, StoreError>;
    /// The sign-in page for `retailer_id` of a connector that is not revoked: one registered
    /// for that retailer before one for any retailer, the newest first.
    async fn connector_link_url_for(&self, retailer_id: &str) -> Result<Option<ConnectorLinkUrl>, StoreError>;
    async fn create_link_session(&self, session: &LinkSession) -> Result<(), StoreError>;
    async fn find_link_session(&self, cookie_digest: &[u8]) -> Result<Option<LinkSession>, StoreError>;
    async fn find_link_session_by_reference(&self, reference_digest: &[u8]) -> Result<Option<LinkSession>, StoreError>;
    /// Writes a session's changing fields if it is still in `expected`; `false` when it is not
    /// (another request moved it first).
    async fn update_link_session(&self, session: &LinkSession, expected: SessionState) -> Result<bool, StoreError>;
    /// Sessions, newest first: of one client (and customer), or of every client.
    async fn list_link_sessions(
        &self,
        client: Option<&ClientId>,
        customer_id: Option<&str>,
        limit: i64,
    ) -> Result<Vec<LinkSession>, StoreError>;
}
}

pub(crate) const LINK_TOKEN_COLUMNS: &str =
    "id, digest, client_id, customer_id, email, created_at, expires_at, revoked_at";
pub(crate) const LINK_SESSION_COLUMNS: &str = "id, cookie_digest, client_id, customer_id, email, entry, link_token_digest, \
     token_jti, connection_id, retailer_id, redirect_url, state, reference_digest, connector_id, reason, created_at, \
     updated_at, expires_at";

/// Implements [`crate::storage::LinkStore`] for a backend.
macro_rules! link_store {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl $crate::storage::LinkStore for $store {
            async fn create_link_token(&self, t: &$crate::domain::link::LinkToken) -> Result<(), StoreError> {
                sqlx::query(&format!(
                    "INSERT INTO link_tokens ({}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                    $crate::storage::sql::link::LINK_TOKEN_COLUMNS
                ))
                .bind(&t.id)
                .bind(&t.digest)
                .bind(&t.client_id)
                .bind(&t.customer_id)
                .bind(&t.email)
                .bind(t.created_at)
                .bind(t.expires_at)
                .bind(t.revoked_at)
                .execute(self.pool())
                .await
                .map_err(map_err)?;
                Ok(())
            }

            async fn find_link_token(&self, digest: &[u8]) -> Result<Option<$crate::domain::link::LinkToken>, StoreError> {
                sqlx::query_as(&format!(
                    "SELECT {} FROM link_tokens WHERE digest = $1",
                    $crate::storage::sql::link::LINK_TOKEN_COLUMNS
                ))
                .bind(digest)
                .fetch_optional(self.pool())
                .await
                .map_err(map_err)
            }

            async fn list_link_tokens(
                &self,
                client: &ClientId,
                customer_id: &str,
            ) -> Result<Vec<$crate::domain::link::LinkToken>, StoreError> {
                sqlx::query_as(&format!(
                    "SELECT {} FROM link_tokens WHERE client_id = $1 AND customer_id = $2 ORDER BY created_at, id",
                    $crate::storage::sql::link::LINK_TOKEN_COLUMNS
                ))
                .bind(client)
                .bind(customer_id)
                .fetch_all(self.pool())
                .await
                .map_err(map_err)
            }

            async fn revoke_link_token(&self, client: &ClientId, digest: &[u8], at: i64) -> Result<bool, StoreError> {
                let done = sqlx::query(
                    "UPDATE link_tokens SET revoked_at = COALESCE(revoked_at, $3) WHERE digest = $1 AND client_id = $2",
                )
                .bind(digest)
                .bind(client)
                .bind(at)
                .execute(self.pool())
                .await
                .map_err(map_err)?;
                Ok(done.rows_affected() > 0)
            }

            async fn add_redirect_url(&self, u: &$crate::domain::link::RedirectUrl) -> Result<bool, StoreError> {
                let done = sqlx::query(
                    "INSERT INTO redirect_urls (client_id, url, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                )
                .bind(&u.client_id)
                .bind(&u.url)
                .bind(u.created_at)
                .execute(self.pool())
                .await
                .map_err(map_err)?;
                Ok(done.rows_affected() > 0)
            }

            async fn list_redirect_urls(&self, client: &ClientId) -> Result<Vec<$crate::domain::link::RedirectUrl>, StoreError> {
                sqlx::query_as("SELECT client_id, url, created_at FROM redirect_urls WHERE client_id = $1 ORDER BY url")
                    .bind(client)
                    .fetch_all(self.pool())
                    .await
                    .map_err(map_err)
            }

            async fn remove_redirect_url(&self, client: &ClientId, url: &str) -> Result<bool, StoreError> {
                let done = sqlx::query("DELETE FROM redirect_urls WHERE client_id = $1 AND url = $2")
                    .bind(client)
                    .bind(url)
                    .execute(self.pool())
                    .await
                    .map_err(map_err)?;
                Ok(done.rows_affected() > 0)
            }

            async fn set_connector_link_urls(
                &self,
                connector: &ConnectorId,
                urls: &[$crate::domain::link::ConnectorLinkUrl],
            ) -> Result<(), StoreError> {
                let mut tx = self.begin_write(WriteLock::None).await?;
                sqlx::query("DELETE FROM connector_link_urls WHERE connector_id = $1")
                    .bind(connector)
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?;
                for u in urls {
                    sqlx::query(
                        "INSERT INTO connector_link_urls (connector_id, retailer_id, url, created_at) VALUES ($1, $2, $3, $4)",
                    )
                    .bind(connector)
                    .bind(&u.retailer_id)
                    .bind(&u.url)
                    .bind(u.created_at)
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?;
                }
                tx.commit().await.map_err(map_err)
            }

            async fn list_connector_link_urls(&self) -> Result<Vec<$crate::domain::link::ConnectorLinkUrl>, StoreError> {
                sqlx::query_as(
                    "SELECT connector_id, retailer_id, url, created_at FROM connector_link_urls ORDER BY connector_id, retailer_id",
                )
                .fetch_all(self.pool())
                .await
                .map_err(map_err)
            }

            async fn connector_link_url_for(
                &self,
                retailer_id: &str,
            ) -> Result<Option<$crate::domain::link::ConnectorLinkUrl>, StoreError> {
                sqlx::query_as(
                    "SELECT u.connector_id, u.retailer_id, u.url, u.created_at
                     FROM connector_link_urls u JOIN connector_credentials c ON c.id = u.connector_id
                     WHERE c.revoked_at IS NULL AND (u.retailer_id = $1 OR u.retailer_id = $2)
                     ORDER BY CASE WHEN u.retailer_id = $1 THEN 0 ELSE 1 END, u.created_at DESC, u.connector_id
                     LIMIT 1",
                )
                .bind(retailer_id)
                .bind($crate::domain::link::ANY_RETAILER)
                .fetch_optional(self.pool())
                .await
                .map_err(map_err)
            }

            async fn create_link_session(&self, s: &$crate::domain::link::LinkSession) -> Result<(), StoreError> {
                sqlx::query(&format!(
                    "INSERT INTO link_sessions ({}) VALUES
                     ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)",
                    $crate::storage::sql::link::LINK_SESSION_COLUMNS
                ))
                .bind(&s.id)
                .bind(&s.cookie_digest)
                .bind(&s.client_id)
                .bind(&s.customer_id)
                .bind(&s.email)
                .bind(s.entry.as_str())
                .bind(&s.link_token_digest)
                .bind(&s.token_jti)
                .bind(&s.connection_id)
                .bind(&s.retailer_id)
                .bind(&s.redirect_url)
                .bind(s.state.as_str())
                .bind(&s.reference_digest)
                .bind(&s.connector_id)
                .bind(&s.reason)
                .bind(s.created_at)
                .bind(s.updated_at)
                .bind(s.expires_at)
                .execute(self.pool())
                .await
                .map_err(map_err)?;
                Ok(())
            }

            async fn find_link_session(&self, cookie: &[u8]) -> Result<Option<$crate::domain::link::LinkSession>, StoreError> {
                sqlx::query_as(&format!(
                    "SELECT {} FROM link_sessions WHERE cookie_digest = $1",
                    $crate::storage::sql::link::LINK_SESSION_COLUMNS
                ))
                .bind(cookie)
                .fetch_optional(self.pool())
                .await
                .map_err(map_err)
            }

            async fn find_link_session_by_reference(
                &self,
                reference: &[u8],
            ) -> Result<Option<$crate::domain::link::LinkSession>, StoreError> {
                sqlx::query_as(&format!(
                    "SELECT {} FROM link_sessions WHERE reference_digest = $1",
                    $crate::storage::sql::link::LINK_SESSION_COLUMNS
                ))
                .bind(reference)
                .fetch_optional(self.pool())
                .await
                .map_err(map_err)
            }

            async fn update_link_session(
                &self,
                s: &$crate::domain::link::LinkSession,
                expected: $crate::domain::link::SessionState,
            ) -> Result<bool, StoreError> {
                let done = sqlx::query(
                    "UPDATE link_sessions SET retailer_id = $3, state = $4, reference_digest = $5, connector_id = $6,
                       reason = $7, updated_at = $8, connection_id = $9
                     WHERE id = $1 AND state = $2",
                )
                .bind(&s.id)
                .bind(expected.as_str())
                .bind(&s.retailer_id)
                .bind(s.state.as_str())
                .bind(&s.reference_digest)
                .bind(&s.connector_id)
                .bind(&s.reason)
                .bind(s.updated_at)
                .bind(&s.connection_id)
                .execute(self.pool())
                .await
                .map_err(map_err)?;
                Ok(done.rows_affected() > 0)
            }

            async fn list_link_sessions(
                &self,
                client: Option<&ClientId>,
                customer_id: Option<&str>,
                limit: i64,
            ) -> Result<Vec<$crate::domain::link::LinkSession>, StoreError> {
                sqlx::query_as(&format!(
                    "SELECT {} FROM link_sessions
                     WHERE ($1 IS NULL OR client_id = $1) AND ($2 IS NULL OR customer_id = $2)
                     ORDER BY created_at DESC, id DESC LIMIT $3",
                    $crate::storage::sql::link::LINK_SESSION_COLUMNS
                ))
                .bind(client)
                .bind(customer_id)
                .bind(limit)
                .fetch_all(self.pool())
                .await
                .map_err(map_err)
            }
        }
    };
}

pub(crate) use link_store;
