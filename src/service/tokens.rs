//! Minted tokens: looked up, checked as credentials, listed and revoked. Minting itself is
//! the hot path and goes through [`crate::token::mint::Minter`].
use super::core::Tokens;
use super::{Actor, CoreError, audit, audit_entry};
use crate::domain::connection::ConnectionStatus;
use crate::domain::ids::{ApiKeyId, ClientId, ConnectionId, TokenId};
use crate::domain::token::IssuedToken;
use crate::storage::Change;
use crate::token::claims::Claims;
use crate::token::live::live_token;
use crate::token::verify::Expectations;

/// Why a token was not issued, in the order the checks are answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotIssued {
    /// The API key is revoked or is not the client's (it may have been cached as live).
    KeyNotLive,
    /// The connection is not the client's, or does not exist.
    NoConnection,
    /// The connection is disconnected: it is issued no tokens.
    Disconnected,
    /// Refused a moment ago and issuable now: nothing the caller can fix, so try again.
    TryAgain,
}

/// Why a stored idempotent answer (a token) may not be given again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotReplayable {
    /// The connection is no longer the client's (or is gone): a fresh request would be 404.
    NoConnection,
    /// The connection is disconnected: a fresh request would be refused.
    Disconnected,
    /// The token answered with has been revoked since.
    Revoked,
    /// The token answered with has expired: every verifier would refuse it.
    Expired,
}

impl Tokens<'_> {
    /// Why the issuance transaction refused `client`'s token for `connection`, asked with
    /// `key`: read again outside it, in the order the checks are answered.
    pub async fn why_not_issued(
        &self,
        client: &ClientId,
        key: &ApiKeyId,
        connection: &ConnectionId,
    ) -> Result<NotIssued, CoreError> {
        let store = self.core.store();
        let key = store.find_api_key(key).await?;
        if key.is_none_or(|k| k.revoked_at.is_some() || &k.client_id != client) {
            return Ok(NotIssued::KeyNotLive);
        }
        Ok(match store.find_connection(client, connection).await? {
            None => NotIssued::NoConnection,
            Some(c) if c.status == ConnectionStatus::Disconnected => NotIssued::Disconnected,
            Some(_) => NotIssued::TryAgain,
        })
    }

    /// Whether the token `jti` (`None`: the stored answer names no token of tessera's),
    /// minted for `client`'s `connection`, may be given again as the answer to a retried
    /// request: only while the connection is still the client's and not disconnected, and the
    /// token is neither revoked nor expired.
    pub async fn replayable(
        &self,
        client: &ClientId,
        connection: &ConnectionId,
        jti: Option<&TokenId>,
    ) -> Result<Result<(), NotReplayable>, CoreError> {
        let store = self.core.store();
        match store.find_connection(client, connection).await? {
            None => return Ok(Err(NotReplayable::NoConnection)),
            Some(c) if c.status == ConnectionStatus::Disconnected => return Ok(Err(NotReplayable::Disconnected)),
            Some(_) => {}
        }
        let record = match jti {
            Some(jti) => store.find_issued_token(jti).await?,
            None => None,
        };
        let Some(record) = record.filter(|r| r.revoked_at.is_none()) else {
            return Ok(Err(NotReplayable::Revoked));
        };
        if record.expires_at <= self.core.now() {
            return Ok(Err(NotReplayable::Expired));
        }
        Ok(Ok(()))
    }

    /// The record of the token `jti`, whoever's it is.
    pub async fn find(&self, jti: &TokenId) -> Result<Option<IssuedToken>, CoreError> {
        let store = self.core.store();
        Ok(store.find_issued_token(jti).await?)
    }

    /// The claims of `token` when it is one of `client`'s live `access` tokens (see
    /// [`live_token`]); `None` for anything else, garbage included.
    pub async fn live(&self, client: &ClientId, token: &str) -> Result<Option<Claims>, CoreError> {
        let store = self.core.store();
        let minter = self.core.minter()?;
        Ok(live_token(minter, store, client.as_str(), token).await?)
    }

    /// Up to `limit` of a connection's unexpired, unrevoked tokens, newest first.
    pub async fn live_of(
        &self,
        connection: &ConnectionId,
        now: i64,
        limit: u32,
    ) -> Result<Vec<IssuedToken>, CoreError> {
        let store = self.core.store();
        Ok(store.live_tokens(connection, now, limit).await?)
    }

    /// How many tokens were minted in each minute (Unix minutes) since the token id `from_jti`.
    pub async fn minted_by_minute(&self, from_jti: &str) -> Result<Vec<(i64, i64)>, CoreError> {
        let store = self.core.store();
        Ok(store.tokens_by_minute(from_jti).await?)
    }

    /// Revokes one of `client`'s tokens (the first revocation time stays); the activity log
    /// names the API key that asked, and the audit log the operator. Whether such a token exists.
    pub async fn revoke(
        &self,
        actor: Actor<'_>,
        client: &ClientId,
        jti: &TokenId,
        now: i64,
    ) -> Result<bool, CoreError> {
        let store = self.core.store();
        let change = match actor {
            Actor::ApiKey(key) => Change::by(now, key),
            _ => Change::at(now),
        };
        let mut work = store.begin_work().await?;
        let Some(mut token) = work.lock_issued_token(jti).await?.filter(|t| &t.client_id == client) else {
            return Ok(false);
        };
        // The first revocation stays, and only it makes an entry.
        if token.revoked_at.is_none() {
            token.revoked_at = Some(now);
            work.save_issued_token(&token).await?;
            let data = serde_json::json!({"jti": jti.as_str()});
            work.append_activity(&super::connections::entry(
                &token.connection_id,
                client,
                "token_revoked",
                &change,
                data,
            ))
            .await?;
        }
        if let Some(entry) = audit_entry(actor, "token.revoke", jti.as_str(), now) {
            work.record_audit(&entry).await?;
        }
        work.commit().await?;
        Ok(true)
    }

    /// Whether `token` (signed by the key `kid`, as its header says) is live, for an operator
    /// looking at it in the console: verified against `keyring` with the minter's issuer and
    /// audience, then its record and its connection read. The inspection is audited (by `kid`;
    /// the token itself is never kept).
    pub async fn inspect(&self, actor: Actor<'_>, token: &str, kid: &str, now: i64) -> Result<Verdict, CoreError> {
        let store = self.core.store();
        let minter = self.core.minter()?;
        let keyring = self.core.keyring()?;
        let expect = Expectations {
            issuer: Some(minter.issuer.clone()),
            audience: Some(minter.audience.clone()),
            // Live until `exp`, as introspection answers it.
            strict_expiry: true,
        };
        let verdict = match keyring.verify(token, &expect) {
            Err(e) => Verdict::Unverified(e.to_string()),
            Ok(claims) => {
                let record = store.find_issued_token(&TokenId::from_string(claims.jti.clone())).await?;
                let connection = store.find_any_connection(&ConnectionId::from_string(claims.sub.clone())).await?;
                match (record, connection) {
                    (None, _) => Verdict::NotRecorded,
                    (Some(IssuedToken { revoked_at: Some(at), .. }), _) => Verdict::Revoked(at),
                    (Some(_), None) => Verdict::ConnectionDeleted,
                    (Some(_), Some(c)) if c.status == ConnectionStatus::Disconnected => Verdict::Disconnected,
                    (Some(_), Some(c)) => Verdict::Live { expires: claims.exp, connection: c.id },
                }
            }
        };
        audit(store, actor, "token.inspect", kid, now).await?;
        Ok(verdict)
    }
}

/// What an operator learns of a pasted token.
#[derive(Debug)]
pub enum Verdict {
    /// Its signature or claims do not hold (why).
    Unverified(String),
    /// Validly signed, but tessera has no record of minting it.
    NotRecorded,
    /// Revoked at this time.
    Revoked(i64),
    /// Its connection was deleted.
    ConnectionDeleted,
    /// Its connection is disconnected.
    Disconnected,
    /// Live until `expires`, for `connection`.
    Live { expires: i64, connection: ConnectionId },
}
