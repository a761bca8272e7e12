//! Link, the client's side: its link tokens and the redirect URLs it registers.
use crate::domain::ids::ClientId;
use crate::domain::link::{
    LINK_TOKEN_DAYS, LINK_TOKEN_DEFAULT_DAYS, LinkToken, LinkTokenStatus, RedirectUrl, Secret, check_browser_url,
    is_link_token,
};
use crate::service::core::Link;
use crate::service::{Actor, CoreError, audit};
use crate::service::{Invalid, Missing};

const DAY: i64 = 24 * 3600;

// ---- Link tokens ---------------------------------------------------------------------

impl Link<'_> {
    /// Creates a link token for one of `client`'s customers, live for `days` whole days (the
    /// caller has checked 1 to 365). The token is returned once; only its digest is kept.
    pub async fn create_token(
        &self,
        client: &ClientId,
        customer_id: String,
        email: Option<String>,
        days: Option<i64>,
        now: i64,
    ) -> Result<(LinkToken, Secret), CoreError> {
        let store = self.core.store();
        let days = days.unwrap_or(LINK_TOKEN_DEFAULT_DAYS);
        if !LINK_TOKEN_DAYS.contains(&days) {
            return Err(Invalid::LinkTokenDays(days).into());
        }
        let secret = Secret::link_token();
        let token = LinkToken {
            id: crate::domain::ids::ordered_id(),
            digest: secret.digest(),
            client_id: client.clone(),
            customer_id,
            email,
            created_at: now,
            expires_at: now + days * DAY,
            revoked_at: None,
        };
        store.create_link_token(&token).await?;
        Ok((token, secret))
    }

    /// A customer's link tokens (metadata only), oldest first, optionally only those in `status`.
    pub async fn list_tokens(
        &self,
        client: &ClientId,
        customer_id: &str,
        status: Option<LinkTokenStatus>,
        now: i64,
    ) -> Result<Vec<LinkToken>, CoreError> {
        let store = self.core.store();
        let all = store.list_link_tokens(client, customer_id).await?;
        Ok(all.into_iter().filter(|t| status.is_none_or(|s| t.status(now) == s)).collect())
    }

    /// Revokes one of `client`'s link tokens, whatever state it is in: new Link sessions are
    /// refused from now on (and unfinished ones end at their next step); connections it made
    /// stay as they are.
    pub async fn revoke_token(&self, client: &ClientId, token: &str, now: i64) -> Result<(), CoreError> {
        let store = self.core.store();
        if !is_link_token(token) || !store.revoke_link_token(client, &Secret::presented(token).digest(), now).await? {
            return Err(Missing::LinkToken.into());
        }
        Ok(())
    }

    /// Registers a URL Link may send `client`'s customers back to; `false` when it was already.
    pub async fn add_redirect_url(
        &self,
        actor: Actor<'_>,
        client: &ClientId,
        url: &str,
        now: i64,
    ) -> Result<(RedirectUrl, bool), CoreError> {
        let store = self.core.store();
        let settings = self.core.link_settings();
        let url = check_browser_url(url.trim(), settings.allow_http)
            .map_err(|e| Invalid::Url { which: "redirect URL", why: e.to_string() })?;
        if store.find_client(client).await?.is_none() {
            return Err(Missing::Client(client.clone()).into());
        }
        let entry = RedirectUrl { client_id: client.clone(), url, created_at: now };
        let added = store.add_redirect_url(&entry).await?;
        audit(store, actor, "redirect_url.add", &format!("{client} {}", entry.url), now).await?;
        Ok((entry, added))
    }

    pub async fn list_redirect_urls(&self, client: &ClientId) -> Result<Vec<RedirectUrl>, CoreError> {
        let store = self.core.store();
        Ok(store.list_redirect_urls(client).await?)
    }

    /// Unregisters a redirect URL; sessions already started with it keep it.
    pub async fn remove_redirect_url(
        &self,
        actor: Actor<'_>,
        client: &ClientId,
        url: &str,
        now: i64,
    ) -> Result<(), CoreError> {
        let store = self.core.store();
        if !store.remove_redirect_url(client, url).await? {
            return Err(Missing::RedirectUrl.into());
        }
        audit(store, actor, "redirect_url.remove", &format!("{client} {url}"), now).await?;
        Ok(())
    }
}

// ---- Redirect URLs -------------------------------------------------------------------
