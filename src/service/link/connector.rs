//! Link, the connector's side: its sign-in pages, the sessions handed to it, and its word on
//! each sign-in.
use super::{Settings, entry_live};
use crate::domain::client::Client;
use crate::domain::connection::{Connection, ConnectionStatus};
use crate::domain::ids::{ConnectionId, ConnectorId};
use crate::domain::link::{
    ANY_RETAILER, ConnectorLinkUrl, LinkSession, Outcome, Secret, SessionState, check_browser_url,
};
use crate::domain::retailer::{Retailer, is_retailer_id};
use crate::service::CoreError;
use crate::service::Invalid;
use crate::service::connections;
use crate::service::core::Link;
use crate::storage::{Change, StoreError};

impl Link<'_> {
    /// Registers `connector`'s sign-in page for `retailers` (`None`: every retailer), replacing
    /// what it registered before.
    pub async fn register_sign_in(
        &self,
        connector: &ConnectorId,
        url: &str,
        retailers: Option<Vec<String>>,
        now: i64,
    ) -> Result<Vec<ConnectorLinkUrl>, CoreError> {
        let store = self.core.store();
        let settings = self.core.link_settings();
        let url = check_browser_url(url.trim(), settings.allow_http)
            .map_err(|e| Invalid::Url { which: "sign-in URL", why: e.to_string() })?;
        let ids = match retailers {
            None => vec![ANY_RETAILER.to_owned()],
            Some(ids) if ids.is_empty() => {
                return Err(Invalid::NoRetailers.into());
            }
            Some(ids) => {
                if let Some(bad) = ids.iter().find(|id| !is_retailer_id(id)) {
                    return Err(Invalid::RetailerId(bad.clone()).into());
                }
                let mut ids = ids;
                ids.sort();
                ids.dedup();
                ids
            }
        };
        let urls: Vec<ConnectorLinkUrl> = ids
            .into_iter()
            .map(|retailer_id| ConnectorLinkUrl {
                connector_id: connector.clone(),
                retailer_id,
                url: url.clone(),
                created_at: now,
            })
            .collect();
        store.set_connector_link_urls(connector, &urls).await?;
        Ok(urls)
    }

    /// Stops sending customers to `connector`'s sign-in page.
    pub async fn unregister_sign_in(&self, connector: &ConnectorId) -> Result<(), CoreError> {
        let store = self.core.store();
        Ok(store.set_connector_link_urls(connector, &[]).await?)
    }

    pub async fn list_sign_ins(&self) -> Result<Vec<ConnectorLinkUrl>, CoreError> {
        let store = self.core.store();
        Ok(store.list_connector_link_urls().await?)
    }

    /// The session at `connector`'s sign-in page with `reference`; `None` when there is none
    /// (unknown, handed to another connector, completed already, expired, or its token is no
    /// longer live): a connector sees and completes only the sessions Link handed to it.
    pub async fn session_at_connector(
        &self,
        connector: &ConnectorId,
        reference: &str,
        now: i64,
    ) -> Result<Option<AtConnector>, CoreError> {
        let store = self.core.store();
        let settings = self.core.link_settings();
        let Some(session) = store.find_link_session_by_reference(&Secret::presented(reference).digest()).await? else {
            return Ok(None);
        };
        if !at_connector(&session, connector, now) {
            return Ok(None);
        }
        if entry_live(store, &session, now).await?.is_err() {
            return Ok(None);
        }
        let retailer = match &session.retailer_id {
            Some(id) => store.find_retailer(id).await?,
            None => None,
        };
        let (Some(retailer), Some(client)) = (retailer, store.find_client(&session.client_id).await?) else {
            return Ok(None);
        };
        let return_url = return_url(settings, reference);
        Ok(Some(AtConnector { session, retailer, client, return_url }))
    }

    /// The connector's word on a session's sign-in, in one transaction: the session ends, and
    /// the connection is created and activated, activated, or marked unauthenticated as
    /// `outcome` says (as far as its lifecycle allows), with its activity and webhook events.
    /// `None` when `connector` has no session at its sign-in with that reference: unknown, ended
    /// already (a reference completes once), expired, its token no longer live, or handed to
    /// another connector - all answered alike, revealing nothing.
    pub async fn complete(
        &self,
        connector: &ConnectorId,
        reference: &str,
        outcome: Outcome,
        reason: Option<&str>,
        now: i64,
    ) -> Result<Option<(LinkSession, Option<Connection>, String)>, CoreError> {
        let store = self.core.store();
        let settings = self.core.link_settings();
        let digest = Secret::presented(reference).digest();
        // What the completion needs to know besides the session is read before its unit of
        // work begins: on SQLite the work holds the database's one write lock, and a read
        // through the store's pool could wait for it (a new pooled connection does).
        let Some(seen) = store.find_link_session_by_reference(&digest).await? else {
            return Ok(None);
        };
        if !at_connector(&seen, connector, now) || entry_live(store, &seen, now).await?.is_err() {
            return Ok(None);
        }
        let retailer_known = match &seen.retailer_id {
            Some(id) => store.find_retailer(id).await?.is_some(),
            None => false,
        };
        if !retailer_known || store.find_client(&seen.client_id).await?.is_none() {
            return Ok(None);
        }
        let mut work = store.begin_work().await?;
        // The session again, locked: it completes once, whoever else is completing it.
        let Some(mut session) = work.lock_link_session(&digest).await? else {
            return Ok(None);
        };
        if !at_connector(&session, connector, now) || session.id != seen.id {
            return Ok(None);
        }
        let change = Change::by_connector(now, connector);
        let mut why = reason.map(str::to_owned);
        let linked = match session.connection_id.clone() {
            // Re-authentication: the session's connection, if it is still the client's.
            Some(id) => match work.lock_connection(&id).await?.filter(|c| c.client_id == session.client_id) {
                None => {
                    why = Some("the connection no longer exists".into());
                    None
                }
                Some(mut c) => {
                    let to = match outcome {
                        Outcome::Active => Some(ConnectionStatus::Active),
                        Outcome::Unauthenticated => Some(ConnectionStatus::Unauthenticated),
                        Outcome::Failed => None,
                    };
                    if let Some(to) = to.filter(|to| c.status != *to && c.status.can_move_to(*to)) {
                        connections::move_to(work.as_mut(), &mut c, to, reason, Some("link"), &change).await?;
                    }
                    Some(c)
                }
            },
            // A first link that succeeded: the connection is made, then activated.
            None if outcome == Outcome::Active => {
                let Some(retailer_id) = session.retailer_id.clone() else {
                    return Err(CoreError::Store(StoreError::Corrupt(crate::storage::cause_msg(
                        "a Link session at the connector without a retailer",
                    ))));
                };
                let mut created = Connection {
                    id: ConnectionId::generate(),
                    client_id: session.client_id.clone(),
                    customer_id: session.customer_id.clone(),
                    retailer_id,
                    email: session.email.clone(),
                    mobile: None,
                    status: ConnectionStatus::Initialized,
                    created_at: now,
                    updated_at: now,
                };
                connections::insert(work.as_mut(), &created, &change, Some("link")).await?;
                connections::move_to(
                    work.as_mut(),
                    &mut created,
                    ConnectionStatus::Active,
                    reason,
                    Some("link"),
                    &change,
                )
                .await?;
                session.connection_id = Some(created.id.clone());
                Some(created)
            }
            None => None,
        };
        let succeeded =
            outcome == Outcome::Active && linked.as_ref().is_some_and(|c| c.status == ConnectionStatus::Active);
        session.state = if succeeded { SessionState::Completed } else { SessionState::Failed };
        if !succeeded && why.is_none() {
            why = Some(
                match outcome {
                    Outcome::Unauthenticated => "the retailer did not accept the sign-in",
                    Outcome::Failed => "the connector could not link the account",
                    Outcome::Active => "the connection cannot become active",
                }
                .into(),
            );
        }
        session.reason = why;
        session.updated_at = now;
        work.save_link_session(&session).await?;
        work.commit().await?;
        Ok(Some((session, linked, return_url(settings, reference))))
    }
}

/// Whether `session` is at `connector`'s sign-in page and has not expired.
fn at_connector(session: &LinkSession, connector: &ConnectorId, now: i64) -> bool {
    session.state == SessionState::AtConnector
        && now < session.expires_at
        && session.connector_id.as_ref() == Some(connector)
}

/// What the connector learns of a session at its sign-in page.
#[derive(Debug)]
pub struct AtConnector {
    pub session: LinkSession,
    pub retailer: Retailer,
    pub client: Client,
    /// Where the connector sends the browser when it is done (or the customer cancels).
    pub return_url: String,
}

/// Where the connector sends the customer back to.
pub fn return_url(settings: &Settings, reference: &str) -> String {
    format!("{}/link/return?session={reference}", settings.public_url)
}
