//! Persistence: the [`Store`] trait of domain verbs, its error type, and choosing a backend
//! from a database URL. Each backend maps its own error codes into [`StoreError`].
use std::sync::Arc;

use async_trait::async_trait;

use crate::auth::api_key::ApiKeyDigest;
use crate::domain::connection::{Connection, ConnectionPatch};
use crate::domain::ids::{ApiKeyId, ClientId, ConnectionId, Kid, TokenId};

pub mod sqlite;

/// What can go wrong in storage, in terms callers can act on.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("conflict: {0}")]
    Conflict(String),
    /// The database cannot be reached or timed out; the request may be retried.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("database error: {0}")]
    Other(String),
}

/// A tenant of the service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Client {
    pub id: ClientId,
    pub name: String,
    pub created_at: i64,
}

/// An API key as stored: only its digest, never the secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiKeyRecord {
    pub id: ApiKeyId,
    pub client_id: ClientId,
    pub digest: ApiKeyDigest,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

/// A signing key as stored: private material sealed under the key-encryption key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SigningKeyRecord {
    pub kid: Kid,
    /// JWS algorithm name: `EdDSA` or `HS256`.
    pub alg: String,
    /// `next`, `active` or `retired`.
    pub state: String,
    pub public_key: Option<Vec<u8>>,
    pub private_key_sealed: Vec<u8>,
    pub created_at: i64,
    pub activated_at: Option<i64>,
    pub retired_at: Option<i64>,
}

/// The durable record of one minted token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IssuedToken {
    pub jti: TokenId,
    pub connection_id: ConnectionId,
    pub client_id: ClientId,
    pub api_key_id: ApiKeyId,
    pub kid: Kid,
    pub issued_at: i64,
    pub expires_at: i64,
}

/// Everything tessera keeps, as domain verbs. One implementation per backend.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Applies pending migrations.
    async fn migrate(&self) -> Result<(), StoreError>;
    /// Succeeds when the database answers.
    async fn ping(&self) -> Result<(), StoreError>;

    async fn create_client(&self, client: &Client) -> Result<(), StoreError>;
    async fn find_client(&self, id: &ClientId) -> Result<Option<Client>, StoreError>;
    /// Creates `client` with `key` only when the database has no client at all. Race-safe:
    /// of several callers at once, exactly one creates. Returns whether this call created.
    async fn bootstrap_client(
        &self,
        client: &Client,
        key: &ApiKeyRecord,
    ) -> Result<bool, StoreError>;

    async fn create_api_key(&self, key: &ApiKeyRecord) -> Result<(), StoreError>;
    async fn find_api_key(&self, id: &ApiKeyId) -> Result<Option<ApiKeyRecord>, StoreError>;
    async fn list_api_keys(&self, client: &ClientId) -> Result<Vec<ApiKeyRecord>, StoreError>;
    /// Marks a key revoked (idempotent: an already revoked key keeps its first time).
    /// `NotFound` when no such key exists.
    async fn revoke_api_key(&self, id: &ApiKeyId, at: i64) -> Result<ApiKeyRecord, StoreError>;

    async fn create_connection(&self, connection: &Connection) -> Result<(), StoreError>;
    async fn find_connection(
        &self,
        client: &ClientId,
        id: &ConnectionId,
    ) -> Result<Option<Connection>, StoreError>;
    async fn list_connections(
        &self,
        client: &ClientId,
        customer_id: &str,
    ) -> Result<Vec<Connection>, StoreError>;
    /// Applies `patch` atomically; `None` when the connection does not exist for `client`.
    async fn update_connection(
        &self,
        client: &ClientId,
        id: &ConnectionId,
        patch: &ConnectionPatch,
        at: i64,
    ) -> Result<Option<Connection>, StoreError>;
    /// Deletes; `false` when the connection did not exist for `client`.
    async fn delete_connection(
        &self,
        client: &ClientId,
        id: &ConnectionId,
    ) -> Result<bool, StoreError>;

    async fn signing_keys(&self) -> Result<Vec<SigningKeyRecord>, StoreError>;
    /// Inserts `key` as the active key of its algorithm unless one is active already.
    /// Race-safe by a unique constraint. Returns whether it was inserted.
    async fn insert_signing_key_if_none_active(
        &self,
        key: &SigningKeyRecord,
    ) -> Result<bool, StoreError>;
    /// Retires the active key of `key.alg` and makes `key` active, in one transaction.
    async fn rotate_signing_key(&self, key: &SigningKeyRecord, at: i64) -> Result<(), StoreError>;

    /// Durably records a batch of minted tokens in one transaction.
    async fn record_tokens_issued(&self, batch: &[IssuedToken]) -> Result<(), StoreError>;
    async fn find_issued_token(&self, jti: &TokenId) -> Result<Option<IssuedToken>, StoreError>;
}

/// Opens the store a database URL names, and migrates it.
pub async fn connect(url: &str) -> Result<Arc<dyn Store>, StoreError> {
    let store: Arc<dyn Store> = match Backend::of(url)? {
        Backend::Sqlite => Arc::new(sqlite::SqliteStore::connect(url).await?),
    };
    store.migrate().await?;
    Ok(store)
}

/// The storage backends, chosen by URL scheme.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
}

impl Backend {
    pub fn of(url: &str) -> Result<Self, StoreError> {
        let scheme = url.split_once(':').map(|(s, _)| s).unwrap_or("");
        match scheme {
            "sqlite" => Ok(Backend::Sqlite),
            _ => Err(StoreError::Other(format!(
                "unsupported database URL scheme {scheme:?}: use sqlite://PATH"
            ))),
        }
    }
}

/// A database URL with any password replaced by `***`, for logs and errors.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_masked() {
        assert_eq!(
            redact_url("postgres://app:s3cret@db:5432/tessera"),
            "postgres://app:***@db:5432/tessera"
        );
        assert_eq!(redact_url("sqlite://data/t.db"), "sqlite://data/t.db");
    }
}
