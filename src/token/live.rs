//! Whether a presented connection token is live: the check behind introspection and behind
//! connection tokens accepted as credentials.
use super::claims::{Claims, SCOPE_ACCESS};
use super::mint::Minter;
use super::verify::Expectations;
use crate::domain::connection::ConnectionStatus;
use crate::domain::ids::{ConnectionId, TokenId};
use crate::storage::{Store, StoreError};

/// Whether `token` is one of `caller`'s live connection tokens: validly signed by a key of
/// the keyring, unexpired (no leeway on `exp`), of scope `access`, recorded and not revoked, for a connection of
/// the caller's client that still exists and is not disconnected.
pub(crate) async fn live_token(
    minter: &Minter,
    store: &dyn Store,
    client_id: &str,
    token: &str,
) -> Result<Option<Claims>, StoreError> {
    // Live ends at `exp`, to the second: introspection's `active` is defined by the token's
    // validity window (RFC 7662, section 2.2), and the verifiers tessera's tokens meet (jose,
    // PyJWT) refuse a token from `exp` on. `nbf` keeps the leeway: a token another replica
    // has just minted is live here too, even with this clock a little behind.
    let expect = Expectations {
        issuer: Some(minter.issuer.clone()),
        audience: Some(minter.audience.clone()),
        strict_expiry: true,
    };
    let Ok(claims) = minter.keyring.verify(token, &expect) else { return Ok(None) };
    if claims.client_id != client_id || claims.scope != SCOPE_ACCESS {
        return Ok(None);
    }
    let Some(record) = store.find_issued_token(&TokenId::from_string(claims.jti.clone())).await? else {
        return Ok(None);
    };
    if record.revoked_at.is_some() || record.client_id.as_str() != client_id {
        return Ok(None);
    }
    let connection = store.find_connection(&record.client_id, &ConnectionId::from_string(claims.sub.clone())).await?;
    match connection {
        Some(c) if c.status != ConnectionStatus::Disconnected => Ok(Some(claims)),
        _ => Ok(None),
    }
}
