//! Link: link tokens, redirect URLs, the connector's sign-in pages, and Link sessions. A
//! session's completion writes the connection's change, its activity events and its webhook
//! events in one transaction with the session's end.
#[allow(unused_imports)]
use crate::storage::vocabulary::*;

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
    /// The connector's word on a session at its sign-in page, applied in one transaction:
    /// the session ends, and the connection is created, activated or marked unauthenticated
    /// as `outcome` says, with its activity and webhook events.
    async fn complete_link_session(
        &self,
        reference_digest: &[u8],
        outcome: Outcome,
        reason: Option<&str>,
        change: &Change,
    ) -> Result<Completion, StoreError>;
    /// Sessions, newest first: of one client (and customer), or of every client.
    async fn list_link_sessions(
        &self,
        client: Option<&ClientId>,
        customer_id: Option<&str>,
        limit: i64,
    ) -> Result<Vec<LinkSession>, StoreError>;
}
}

pub const LINK_TOKEN_COLUMNS: &str = "id, digest, client_id, customer_id, email, created_at, expires_at, revoked_at";
pub const LINK_SESSION_COLUMNS: &str = "id, cookie_digest, client_id, customer_id, email, entry, link_token_digest, \
     token_jti, connection_id, retailer_id, redirect_url, state, reference_digest, connector_id, reason, created_at, \
     updated_at, expires_at";

/// Implements [`crate::storage::LinkStore`] for a backend.
macro_rules! link_store {
    ($store:ty) => {
        /// Moves a locked connection to `to` with its activity event and webhook event.
        async fn link_move(
            tx: &mut Conn,
            current: &Connection,
            to: ConnectionStatus,
            reason: Option<&str>,
            change: &Change,
        ) -> Result<Connection, StoreError> {
            let moved: Connection = sqlx::query_as(&format!(
                "UPDATE connections SET status = $2, updated_at = $3 WHERE id = $1 RETURNING {CONNECTION_COLUMNS}"
            ))
            .bind(&current.id)
            .bind(to.as_str())
            .bind(change.at)
            .fetch_one(&mut *tx)
            .await
            .map_err(map_err)?;
            let mut data = serde_json::json!({"from": current.status.as_str(), "to": to.as_str(), "via": "link"});
            if let Some(reason) = reason {
                data["reason"] = serde_json::json!(reason);
            }
            insert_event(tx, &moved.id, &moved.client_id, "status_changed", change, data).await?;
            if let Some(kind) = EventType::for_status(to) {
                emit_event(tx, &moved, kind, change.at).await?;
            }
            Ok(moved)
        }

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

            async fn complete_link_session(
                &self,
                reference: &[u8],
                outcome: $crate::domain::link::Outcome,
                reason: Option<&str>,
                change: &Change,
            ) -> Result<$crate::storage::Completion, StoreError> {
                use $crate::domain::link::{LinkSession, Outcome, SessionState};
                use $crate::storage::Completion;
                let mut tx = self.begin_write(WriteLock::None).await?;
                let session: Option<LinkSession> = sqlx::query_as(&format!(
                    "SELECT {} FROM link_sessions WHERE reference_digest = $1 AND state = $2 AND expires_at > $3{}",
                    $crate::storage::sql::link::LINK_SESSION_COLUMNS,
                    <$store as $crate::storage::sql::SqlBackend>::FOR_UPDATE
                ))
                .bind(reference)
                .bind(SessionState::AtConnector.as_str())
                .bind(change.at)
                .fetch_optional(&mut *tx)
                .await
                .map_err(map_err)?;
                let Some(mut session) = session else { return Ok(Completion::NotFound) };
                let mut linked: Option<Connection> = None;
                let mut why = reason.map(str::to_owned);
                match &session.connection_id {
                    Some(id) => {
                        let current: Option<Connection> = sqlx::query_as(&format!(
                            "SELECT {CONNECTION_COLUMNS} FROM connections WHERE id = $1 AND client_id = $2{}",
                            <$store as $crate::storage::sql::SqlBackend>::FOR_UPDATE
                        ))
                        .bind(id)
                        .bind(&session.client_id)
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(map_err)?;
                        match current {
                            None => why = Some("the connection no longer exists".into()),
                            Some(c) => {
                                let to = match outcome {
                                    Outcome::Active => Some(ConnectionStatus::Active),
                                    Outcome::Unauthenticated => Some(ConnectionStatus::Unauthenticated),
                                    Outcome::Failed => None,
                                };
                                linked = Some(match to {
                                    Some(to) if c.status != to && c.status.can_move_to(to) => {
                                        link_move(&mut tx, &c, to, reason, change).await?
                                    }
                                    _ => c,
                                });
                            }
                        }
                    }
                    None if outcome == Outcome::Active => {
                        let Some(retailer_id) = session.retailer_id.clone() else {
                            return Err(StoreError::Corrupt($crate::storage::cause_msg("a Link session at the connector without a retailer")));
                        };
                        let created = Connection {
                            id: ConnectionId::generate(),
                            client_id: session.client_id.clone(),
                            customer_id: session.customer_id.clone(),
                            retailer_id,
                            email: session.email.clone(),
                            mobile: None,
                            status: ConnectionStatus::Initialized,
                            created_at: change.at,
                            updated_at: change.at,
                        };
                        sqlx::query(&format!(
                            "INSERT INTO connections ({CONNECTION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
                        ))
                        .bind(&created.id)
                        .bind(&created.client_id)
                        .bind(&created.customer_id)
                        .bind(&created.retailer_id)
                        .bind(&created.email)
                        .bind(&created.mobile)
                        .bind(created.status.as_str())
                        .bind(created.created_at)
                        .bind(created.updated_at)
                        .execute(&mut *tx)
                        .await
                        .map_err(map_err)?;
                        let data = serde_json::json!({"retailer_id": created.retailer_id, "status": "initialized", "via": "link"});
                        insert_event(&mut tx, &created.id, &created.client_id, "created", change, data).await?;
                        emit_event(&mut tx, &created, EventType::ConnectionCreated, change.at).await?;
                        let active = link_move(&mut tx, &created, ConnectionStatus::Active, reason, change).await?;
                        session.connection_id = Some(active.id.clone());
                        linked = Some(active);
                    }
                    None => {}
                }
                let succeeded = outcome == Outcome::Active
                    && linked.as_ref().is_some_and(|c| c.status == ConnectionStatus::Active);
                session.state = if succeeded { SessionState::Completed } else { SessionState::Failed };
                if !succeeded && why.is_none() {
                    why = Some(match outcome {
                        Outcome::Unauthenticated => "the retailer did not accept the sign-in".into(),
                        Outcome::Failed => "the connector could not link the account".into(),
                        Outcome::Active => "the connection cannot become active".into(),
                    });
                }
                session.reason = why;
                session.updated_at = change.at;
                sqlx::query(
                    "UPDATE link_sessions SET state = $2, reason = $3, updated_at = $4, connection_id = $5 WHERE id = $1",
                )
                .bind(&session.id)
                .bind(session.state.as_str())
                .bind(&session.reason)
                .bind(session.updated_at)
                .bind(&session.connection_id)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
                tx.commit().await.map_err(map_err)?;
                Ok(Completion::Done { session: Box::new(session), connection: linked })
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
