//! Minted tokens: looked up, checked as credentials, listed and revoked. Minting itself is
//! the hot path and goes through [`crate::token::mint::Minter`].
use super::{Actor, CoreError, audit};
use crate::domain::ids::{ClientId, ConnectionId, TokenId};
use crate::domain::token::IssuedToken;
use crate::storage::{Change, Store};
use crate::token::claims::Claims;
use crate::token::live::live_token;
use crate::token::mint::Minter;

/// The record of the token `jti`, whoever's it is.
pub async fn find(store: &dyn Store, jti: &TokenId) -> Result<Option<IssuedToken>, CoreError> {
    Ok(store.find_issued_token(jti).await?)
}

/// The claims of `token` when it is one of `client`'s live `access` tokens (see
/// [`live_token`]); `None` for anything else, garbage included.
pub async fn live(
    minter: &Minter,
    store: &dyn Store,
    client: &ClientId,
    token: &str,
) -> Result<Option<Claims>, CoreError> {
    Ok(live_token(minter, store, client.as_str(), token).await?)
}

/// Up to `limit` of a connection's unexpired, unrevoked tokens, newest first.
pub async fn live_of(
    store: &dyn Store,
    connection: &ConnectionId,
    now: i64,
    limit: u32,
) -> Result<Vec<IssuedToken>, CoreError> {
    Ok(store.live_tokens(connection, now, limit).await?)
}

/// How many tokens were minted in each minute (Unix minutes) since the token id `from_jti`.
pub async fn minted_by_minute(store: &dyn Store, from_jti: &str) -> Result<Vec<(i64, i64)>, CoreError> {
    Ok(store.tokens_by_minute(from_jti).await?)
}

/// Revokes one of `client`'s tokens (the first revocation time stays); the activity log
/// names the API key that asked, and the audit log the operator. Whether such a token exists.
pub async fn revoke(
    store: &dyn Store,
    actor: Actor<'_>,
    client: &ClientId,
    jti: &TokenId,
    now: i64,
) -> Result<bool, CoreError> {
    let change = match actor {
        Actor::ApiKey(key) => Change::by(now, key),
        _ => Change::at(now),
    };
    let found = store.revoke_token(client, jti, &change).await?;
    audit(store, actor, "token.revoke", jti.as_str(), now).await?;
    Ok(found)
}
