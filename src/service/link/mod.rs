//! Link: link tokens, redirect URLs, the connector's sign-in pages, and the hosted flow a
//! customer walks through (start, choose a retailer, consent, hand-off to the connector,
//! the connector's completion, the way back to the app).
//!
//! Every step of a session re-reads what it was entered with (the link token, or the
//! connection token's record and connection) and ends the session when that is no longer
//! live. Secrets (link tokens, session cookies, references) are kept as digests only.
use super::CoreError;
use crate::domain::client::Client;
use crate::domain::connection::{Connection, ConnectionStatus};
use crate::domain::ids::{ClientId, ConnectionId, LinkSessionId, TokenId};
use crate::domain::link::{ANY_RETAILER, Entry, LinkSession, LinkTokenStatus, Secret, SessionState, is_link_token};
use crate::domain::retailer::{Retailer, is_retailer_id};
use crate::service::Invalid;
use crate::service::core::Link;
use crate::storage::Store;
use crate::token::claims::SCOPE_LINK;
use crate::token::verify::Expectations;

mod connector;
mod tokens;
pub use connector::{AtConnector, return_url};

pub use crate::service::core::LinkSettings as Settings;

// ---- The customer's side -------------------------------------------------------------

/// What a Link session shows its customer next (see [`Link::view`]).
#[derive(Debug)]
pub enum SessionView {
    /// The customer was sent to the connector's sign-in page (for this retailer, if known).
    AtConnector { retailer: Option<Retailer> },
    /// The customer chose `retailer`: asked to consent to sharing with `client` (again, for a
    /// relink).
    Consent { client: Client, retailer: Retailer, relink: bool },
    /// The customer is to choose a retailer among `found`.
    Choose { client: Client, found: Vec<Retailer> },
}

/// Why a Link page cannot go on, in words for the customer.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("This link is not valid. Ask the app for a new one.")]
    BadToken,
    #[error("This link is no longer valid: it was revoked or has expired. Ask the app for a new one.")]
    TokenNotLive,
    #[error("The address to return to is not one this app registered, so Link will not send you there.")]
    UnregisteredRedirect,
    #[error("This connection cannot be linked again here.")]
    BadConnection,
    #[error("That retailer is not in the catalogue.")]
    UnknownRetailer,
    #[error("This retailer cannot be linked right now: no sign-in is available for it.")]
    NoSignIn,
    #[error("This Link session has ended or expired. Go back to the app and start again.")]
    SessionOver,
    #[error("This page is out of date: go back and try again.")]
    Stale,
    #[error(transparent)]
    Core(#[from] CoreError),
}

impl From<crate::storage::StoreError> for LinkError {
    fn from(e: crate::storage::StoreError) -> Self {
        LinkError::Core(CoreError::Store(e))
    }
}

/// What a Link URL carries besides its token.
#[derive(Clone, Debug, Default)]
pub struct StartParams {
    pub redirect_url: Option<String>,
    pub retailer_id: Option<String>,
    pub connection_id: Option<String>,
    pub customer_id: Option<String>,
}

impl Link<'_> {
    /// Starts a Link session from a Link URL: `token` is a link token or a `link`-scope
    /// connection token. Returns the session and its cookie (shown once, to this browser).
    pub async fn start(&self, token: &str, params: StartParams, now: i64) -> Result<(LinkSession, Secret), LinkError> {
        let store = self.core.store();
        let minter = self.core.minter()?;
        let settings = self.core.link_settings();
        let cookie = Secret::session();
        let mut session = LinkSession {
            id: LinkSessionId::generate(),
            cookie_digest: cookie.digest(),
            client_id: ClientId::from_string(""),
            customer_id: String::new(),
            email: None,
            entry: Entry::LinkToken,
            link_token_digest: None,
            token_jti: None,
            connection_id: None,
            retailer_id: None,
            redirect_url: None,
            state: SessionState::Started,
            reference_digest: None,
            connector_id: None,
            reason: None,
            created_at: now,
            updated_at: now,
            expires_at: now + settings.session_ttl_secs,
        };
        if is_link_token(token) {
            let found = store.find_link_token(&Secret::presented(token).digest()).await?.ok_or(LinkError::BadToken)?;
            if found.status(now) != LinkTokenStatus::Active {
                return Err(LinkError::TokenNotLive);
            }
            if params.customer_id.as_deref().is_some_and(|c| c != found.customer_id) {
                return Err(LinkError::BadToken);
            }
            session.client_id = found.client_id.clone();
            session.customer_id = found.customer_id.clone();
            session.email = found.email.clone();
            session.link_token_digest = Some(found.digest.clone());
            session.expires_at = session.expires_at.min(found.expires_at);
            if let Some(id) = params.connection_id.as_deref().filter(|s| !s.is_empty()) {
                // Re-authentication: one of this customer's connections that can become active again.
                if !ConnectionId::from_string(id).is_well_formed() {
                    return Err(LinkError::BadConnection);
                }
                let c = store
                    .find_connection(&found.client_id, &ConnectionId::from_string(id))
                    .await?
                    .filter(|c| c.customer_id == found.customer_id)
                    .ok_or(LinkError::BadConnection)?;
                if !matches!(c.status, ConnectionStatus::Unauthenticated | ConnectionStatus::Initialized) {
                    return Err(LinkError::BadConnection);
                }
                session.retailer_id = Some(c.retailer_id.clone());
                session.connection_id = Some(c.id);
            }
        } else {
            let expect = Expectations {
                issuer: Some(minter.issuer.clone()),
                audience: Some(minter.audience.clone()),
                ..Default::default()
            };
            let claims = minter.keyring.verify(token, &expect).map_err(|_| LinkError::BadToken)?;
            if claims.scope != SCOPE_LINK {
                return Err(LinkError::BadToken);
            }
            session.entry = Entry::ConnectionToken;
            session.token_jti = Some(claims.jti.clone());
            session.client_id = ClientId::from_string(claims.client_id.clone());
            session.expires_at = session.expires_at.min(claims.exp);
            let connection = live_connection_token(store, &session, now).await?.ok_or(LinkError::TokenNotLive)?;
            if params.connection_id.as_deref().is_some_and(|id| !id.is_empty() && id != connection.id.as_str()) {
                return Err(LinkError::BadConnection);
            }
            if connection.status == ConnectionStatus::Active {
                return Err(LinkError::BadConnection);
            }
            session.customer_id = connection.customer_id.clone();
            session.email = connection.email.clone();
            session.retailer_id = Some(connection.retailer_id.clone());
            session.connection_id = Some(connection.id);
        }
        if let Some(url) = params.redirect_url.filter(|u| !u.is_empty()) {
            let registered = store.list_redirect_urls(&session.client_id).await?;
            if !registered.iter().any(|r| r.url == url) {
                return Err(LinkError::UnregisteredRedirect);
            }
            session.redirect_url = Some(url);
        }
        if session.retailer_id.is_none()
            && let Some(id) = params.retailer_id.filter(|r| !r.is_empty())
        {
            linkable(store, &id).await?;
            session.retailer_id = Some(id);
        }
        store.create_link_session(&session).await?;
        Ok((session, cookie))
    }

    /// The way back to the app from a Link URL that started no session: when `token` is one of
    /// a client's link tokens (live or not) and `redirect_url` is registered for that client, the
    /// client and the URL with `subtotal_link_result=error`.
    pub async fn way_back_from_start(
        &self,
        token: &str,
        redirect_url: Option<&str>,
    ) -> Result<Option<(Client, String)>, CoreError> {
        let store = self.core.store();
        let Some(url) = redirect_url.filter(|u| !u.is_empty()) else { return Ok(None) };
        if !is_link_token(token) {
            return Ok(None);
        }
        let Some(found) = store.find_link_token(&Secret::presented(token).digest()).await? else { return Ok(None) };
        if !store.list_redirect_urls(&found.client_id).await?.iter().any(|r| r.url == url) {
            return Ok(None);
        }
        let Some(client) = store.find_client(&found.client_id).await? else { return Ok(None) };
        let mut back = url::Url::parse(url).map_err(|e| Invalid::Url { which: "redirect URL", why: e.to_string() })?;
        back.query_pairs_mut().append_pair("subtotal_link_result", "error");
        Ok(Some((client, back.to_string())))
    }

    /// The session this browser's cookie names, while it may go on: unfinished, unexpired,
    /// and entered with a token that is still live.
    pub async fn current(&self, cookie: &str, now: i64) -> Result<LinkSession, LinkError> {
        let store = self.core.store();
        let session =
            store.find_link_session(&Secret::presented(cookie).digest()).await?.ok_or(LinkError::SessionOver)?;
        if session.state.is_final() || now >= session.expires_at {
            return Err(LinkError::SessionOver);
        }
        entry_live(store, &session, now).await??;
        Ok(session)
    }

    /// The session this browser's cookie names, in any state (for the result page).
    pub async fn by_cookie(&self, cookie: &str) -> Result<Option<LinkSession>, CoreError> {
        let store = self.core.store();
        Ok(store.find_link_session(&Secret::presented(cookie).digest()).await?)
    }

    /// The client a session is for (its name goes on the pages).
    pub async fn client_of(&self, session: &LinkSession) -> Result<Client, LinkError> {
        let store = self.core.store();
        store.find_client(&session.client_id).await?.ok_or(LinkError::SessionOver)
    }

    /// The retailers a customer can link (a connector that is not revoked has a sign-in page
    /// for them), filtered by `query` (case-insensitive, in the id or the name).
    pub async fn search_retailers(&self, query: &str) -> Result<Vec<Retailer>, CoreError> {
        let store = self.core.store();
        let q = query.trim().to_lowercase();
        let all = store.list_retailers().await?;
        // No retailer id is empty: this finds only a sign-in page registered for every retailer.
        let every = store.connector_link_url_for("").await?.is_some();
        let mut named = std::collections::HashSet::new();
        if !every {
            for u in store.list_connector_link_urls().await? {
                if u.retailer_id != ANY_RETAILER
                    && !named.contains(&u.retailer_id)
                    && store.connector_link_url_for(&u.retailer_id).await?.is_some()
                {
                    named.insert(u.retailer_id);
                }
            }
        }
        Ok(all
            .into_iter()
            .filter(|r| every || named.contains(&r.retailer_id))
            .filter(|r| q.is_empty() || r.name.to_lowercase().contains(&q) || r.retailer_id.to_lowercase().contains(&q))
            .collect())
    }

    /// Whether the session signs in again to a connection the retailer stopped (`false` for a
    /// new link, including a connection created but never activated).
    /// What the customer sees next in `session`: the connector's sign-in is under way, the
    /// consent to link the chosen retailer, or the choice of a retailer (those matching
    /// `query`). One call for the session page.
    pub async fn view(&self, session: &LinkSession, query: &str) -> Result<SessionView, LinkError> {
        let client = self.client_of(session).await?;
        let retailer = match &session.retailer_id {
            Some(id) => self.retailer(id).await?,
            None => None,
        };
        Ok(match (session.state, retailer) {
            (SessionState::AtConnector, retailer) => SessionView::AtConnector { retailer },
            (_, Some(retailer)) => {
                let relink = self.is_relink(session).await?;
                SessionView::Consent { client, retailer, relink }
            }
            (_, None) => {
                let found = self.search_retailers(query).await?;
                SessionView::Choose { client, found }
            }
        })
    }

    pub async fn is_relink(&self, session: &LinkSession) -> Result<bool, CoreError> {
        let store = self.core.store();
        let Some(id) = &session.connection_id else { return Ok(false) };
        let connection = store.find_connection(&session.client_id, id).await?;
        Ok(connection.is_some_and(|c| c.status != ConnectionStatus::Initialized))
    }

    pub async fn retailer(&self, id: &str) -> Result<Option<Retailer>, CoreError> {
        let store = self.core.store();
        Ok(store.find_retailer(id).await?)
    }

    /// The customer picked a retailer.
    pub async fn choose_retailer(
        &self,
        session: &LinkSession,
        retailer_id: &str,
        now: i64,
    ) -> Result<LinkSession, LinkError> {
        let store = self.core.store();
        if session.retailer_id.is_some() && session.connection_id.is_some() {
            return Err(LinkError::Stale);
        }
        linkable(store, retailer_id).await?;
        let mut next = session.clone();
        next.retailer_id = Some(retailer_id.to_owned());
        next.updated_at = now;
        if !store.update_link_session(&next, SessionState::Started).await? {
            return Err(LinkError::Stale);
        }
        Ok(next)
    }

    /// The customer consented: the session goes to the connector's sign-in page. Returns the
    /// URL to send the browser to (the sign-in page with the single-use reference).
    pub async fn hand_off(&self, session: &LinkSession, now: i64) -> Result<String, LinkError> {
        let store = self.core.store();
        let retailer_id = session.retailer_id.as_deref().ok_or(LinkError::Stale)?;
        let sign_in = store.connector_link_url_for(retailer_id).await?.ok_or(LinkError::NoSignIn)?;
        let reference = Secret::reference();
        let mut next = session.clone();
        next.state = SessionState::AtConnector;
        next.reference_digest = Some(reference.digest());
        next.connector_id = Some(sign_in.connector_id.clone());
        next.updated_at = now;
        if !store.update_link_session(&next, SessionState::Started).await? {
            return Err(LinkError::Stale);
        }
        let sep = if sign_in.url.contains('?') { '&' } else { '?' };
        Ok(format!("{}{sep}session={}", sign_in.url, reference.expose()))
    }

    /// The customer left. Returns the session as it ended.
    pub async fn exit(&self, session: &LinkSession, now: i64) -> Result<LinkSession, LinkError> {
        let store = self.core.store();
        let mut next = session.clone();
        next.state = SessionState::Exited;
        next.reason = Some("the customer left".into());
        next.updated_at = now;
        if !store.update_link_session(&next, session.state).await? {
            return Err(LinkError::Stale);
        }
        Ok(next)
    }

    /// The connector sent the customer back with `reference`. Returns the session as it ended:
    /// completed or failed when the connector completed it, else exited (the customer left the
    /// sign-in page). `SessionOver` when the reference is not this browser's session's.
    pub async fn returned(&self, cookie: &str, reference: &str, now: i64) -> Result<LinkSession, LinkError> {
        let store = self.core.store();
        let session =
            store.find_link_session(&Secret::presented(cookie).digest()).await?.ok_or(LinkError::SessionOver)?;
        let matches = session.reference_digest.as_deref().is_some_and(|d| {
            use subtle::ConstantTimeEq as _;
            d.ct_eq(&Secret::presented(reference).digest()).into()
        });
        if !matches {
            return Err(LinkError::SessionOver);
        }
        match session.state {
            // The reference is spent by this return: the result is shown once.
            SessionState::Completed | SessionState::Failed => {
                let spent = LinkSession { reference_digest: None, updated_at: now, ..session.clone() };
                if !store.update_link_session(&spent, session.state).await? {
                    return Err(LinkError::SessionOver);
                }
                Ok(spent)
            }
            SessionState::AtConnector if now < session.expires_at => self.exit(&session, now).await,
            _ => Err(LinkError::SessionOver),
        }
    }

    /// Sessions for the console, newest first.
    pub async fn sessions(
        &self,
        client: Option<&ClientId>,
        customer_id: Option<&str>,
        limit: i64,
    ) -> Result<Vec<LinkSession>, CoreError> {
        let store = self.core.store();
        Ok(store.list_link_sessions(client, customer_id, limit).await?)
    }
}

/// The connection a connection-token session is for, while that token is live: recorded,
/// unrevoked, and its connection not disconnected.
async fn live_connection_token(
    store: &dyn Store,
    session: &LinkSession,
    now: i64,
) -> Result<Option<Connection>, CoreError> {
    let Some(jti) = &session.token_jti else { return Ok(None) };
    let Some(record) = store.find_issued_token(&TokenId::from_string(jti.clone())).await? else { return Ok(None) };
    if record.revoked_at.is_some() || record.expires_at <= now || record.client_id != session.client_id {
        return Ok(None);
    }
    let connection = store.find_connection(&record.client_id, &record.connection_id).await?;
    Ok(connection.filter(|c| c.status != ConnectionStatus::Disconnected))
}

/// Whether what the session was entered with is still live.
pub(super) async fn entry_live(
    store: &dyn Store,
    session: &LinkSession,
    now: i64,
) -> Result<Result<(), LinkError>, CoreError> {
    match session.entry {
        Entry::LinkToken => {
            let Some(digest) = &session.link_token_digest else { return Ok(Err(LinkError::TokenNotLive)) };
            let token = store.find_link_token(digest).await?;
            Ok(if token.is_some_and(|t| t.status(now) == LinkTokenStatus::Active) {
                Ok(())
            } else {
                Err(LinkError::TokenNotLive)
            })
        }
        Entry::ConnectionToken => Ok(if live_connection_token(store, session, now).await?.is_some() {
            Ok(())
        } else {
            Err(LinkError::TokenNotLive)
        }),
    }
}

/// Whether a customer can link `retailer_id` now: it is in the catalogue and a connector
/// that is not revoked has a sign-in page for it.
async fn linkable(store: &dyn Store, retailer_id: &str) -> Result<(), LinkError> {
    if !is_retailer_id(retailer_id) {
        return Err(LinkError::UnknownRetailer);
    }
    store.find_retailer(retailer_id).await?.ok_or(LinkError::UnknownRetailer)?;
    store.connector_link_url_for(retailer_id).await?.ok_or(LinkError::NoSignIn)?;
    Ok(())
}

/// A customer's email as the Link pages show it: enough to recognise, not to harvest
/// (`j•••@example.com`).
pub fn masked_email(email: &str) -> String {
    match email.rsplit_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}•••@{domain}")
        }
        None => "•••".to_owned(),
    }
}

/// The way back to the app: `redirect_url` with `subtotal_link_result` and, when there is
/// one, the `connection_id`.
pub fn redirect_back(session: &LinkSession, result: &str) -> Option<String> {
    let base = session.redirect_url.as_deref()?;
    let mut url = url::Url::parse(base).ok()?;
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("subtotal_link_result", result);
        if let Some(id) = &session.connection_id {
            q.append_pair("connection_id", id.as_str());
        }
    }
    Some(url.to_string())
}
