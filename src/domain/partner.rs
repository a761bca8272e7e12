//! Partner apps: OAuth clients of the operator's authorization server that the operator has
//! allowed to act for one tessera client.
//!
//! A grant names the partner by its issuer and the `client_id` (or `azp`) its access tokens
//! carry, and the tessera client it may act for. Each grant holds an API key record of its
//! own, whose secret nobody knows: a partner's requests act through that record, so they are
//! rate-limited, logged in the activity log, and checked by token issuance exactly as a key
//! of that client would be, and revoking the grant revokes the record in the same transaction.
use super::ids::{ApiKeyId, ClientId};

/// A partner app allowed to act for a client.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct PartnerGrant {
    /// A ULID.
    pub id: String,
    /// The authorization server's issuer URL, as its tokens' `iss` states it.
    pub issuer: String,
    /// The partner app's OAuth client id (`client_id`, else `azp`, of its tokens).
    pub partner_client_id: String,
    /// The tessera client the partner acts for.
    pub client_id: ClientId,
    /// The credential record the partner's requests act through.
    pub api_key_id: ApiKeyId,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

/// The most characters of an issuer URL or a partner client id tessera keeps.
pub const MAX_PARTNER_TEXT: usize = 255;
