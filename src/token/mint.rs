//! Minting: a token recorded durably (and checked by that record), then signed by the active key.
use std::sync::Arc;

use super::claims::{Claims, SCOPE_ACCESS};
use super::clock::Clock;
use super::issuance::IssuanceLog;
use super::keyring::Keyring;
use crate::domain::ids::{ApiKeyId, ClientId, ConnectionId, TokenId};
use crate::domain::token::IssuedToken;
use crate::storage::StoreError;

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
    /// A signed token for connection `connection` of `client`, returned only once its
    /// issuance record is committed. `None` when the store refused the record: the
    /// connection is not the client's or is disconnected, or the key is revoked.
    ///
    /// The claims that can change (the customer id) are read in the very transaction that
    /// records the token, so neither a stale cache nor a concurrent change on another replica
    /// can put a refused or outdated token in anyone's hands.
    pub async fn mint(
        &self,
        client: &ClientId,
        connection: &ConnectionId,
        api_key_id: &ApiKeyId,
    ) -> Result<Option<String>, StoreError> {
        self.mint_scoped(client, connection, api_key_id, SCOPE_ACCESS).await
    }

    /// [`Minter::mint`] with a scope: `access`, or `link` (recorded like any other token, and
    /// accepted by no data route).
    pub async fn mint_scoped(
        &self,
        client: &ClientId,
        connection: &ConnectionId,
        api_key_id: &ApiKeyId,
        scope: &str,
    ) -> Result<Option<String>, StoreError> {
        let now = self.clock.now();
        let jti = TokenId::generate();
        let signer = self.keyring.signer();
        let exp = now + self.ttl_secs;
        let recorded = self
            .issuance
            .record(IssuedToken {
                jti: jti.clone(),
                connection_id: connection.clone(),
                client_id: client.clone(),
                api_key_id: api_key_id.clone(),
                kid: signer.kid().clone(),
                issued_at: now,
                expires_at: exp,
                revoked_at: None,
            })
            .await?;
        let Some(customer_id) = recorded else { return Ok(None) };
        let claims = Claims {
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            sub: connection.to_string(),
            client_id: client.to_string(),
            customer_id,
            scope: scope.to_owned(),
            iat: now,
            nbf: now,
            exp,
            jti: jti.to_string(),
        };
        Ok(Some(signer.sign(&claims)))
    }
}
