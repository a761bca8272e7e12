//! Connector credentials: the operator's connector service, which moves any client's
//! connections through their statuses and does nothing else.
use super::api_key::ApiKeyDigest;
use super::ids::ConnectorId;

/// A connector credential as stored: only its digest, never the secret.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct ConnectorCredential {
    pub id: ConnectorId,
    pub name: String,
    #[sqlx(try_from = "Vec<u8>")]
    pub digest: ApiKeyDigest,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

crate::domain::name::bounded_name!(
    /// A connector credential's name, for people to recognise it by.
    ConnectorName,
    "connector credential",
    200
);
