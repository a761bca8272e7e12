//! Minting: claims for a connection, signed by the active key, recorded durably.
use std::sync::Arc;

use super::claims::{Claims, SCOPE_ACCESS};
use super::clock::Clock;
use super::issuance::IssuanceLog;
use super::keyring::Keyring;
use crate::domain::connection::Connection;
use crate::domain::ids::{ApiKeyId, TokenId};
use crate::storage::{IssuedToken, StoreError};

/// Mints connection tokens.
pub struct Minter {
    pub keyring: Arc<Keyring>,
    pub issuance: IssuanceLog,
    pub clock: Arc<dyn Clock>,
    pub issuer: String,
    pub audience: String,
    pub ttl_secs: i64,
}

impl Minter {
    /// A signed token for `connection`, returned only once its issuance record is committed.
    pub async fn mint(&self, connection: &Connection, api_key_id: &ApiKeyId) -> Result<String, StoreError> {
        let now = self.clock.now();
        let jti = TokenId::generate();
        let signer = self.keyring.signer();
        let claims = Claims {
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            sub: connection.id.to_string(),
            client_id: connection.client_id.to_string(),
            customer_id: connection.customer_id.clone(),
            scope: SCOPE_ACCESS.to_owned(),
            iat: now,
            nbf: now,
            exp: now + self.ttl_secs,
            jti: jti.to_string(),
        };
        let token = signer.sign(&claims);
        self.issuance
            .record(IssuedToken {
                jti,
                connection_id: connection.id.clone(),
                client_id: connection.client_id.clone(),
                api_key_id: api_key_id.clone(),
                kid: signer.kid().clone(),
                issued_at: now,
                expires_at: claims.exp,
                revoked_at: None,
            })
            .await?;
        Ok(token)
    }
}
