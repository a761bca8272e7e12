//! Issued tokens: the durable record of each token minted.
use super::ids::{ApiKeyId, ClientId, ConnectionId, Kid, TokenId};

/// The durable record of one minted token.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct IssuedToken {
    pub jti: TokenId,
    pub connection_id: ConnectionId,
    pub client_id: ClientId,
    pub api_key_id: ApiKeyId,
    pub kid: Kid,
    pub issued_at: i64,
    pub expires_at: i64,
    /// When the token was revoked; always `None` when recording a new token.
    pub revoked_at: Option<i64>,
}
