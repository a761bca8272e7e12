//! Minting: a token recorded durably (and checked by that record), signed by the active key.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::claims::{Claims, SCOPE_ACCESS};
use super::clock::{Clock, ClockGuard, ClockUntrusted};
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
    /// The customer id each recent connection's last token carried, to sign the next one
    /// while its record commits (see [`Minter::mint_scoped`]).
    pub customers: CustomerIds,
    /// Refuses to sign while the clock is not to be trusted.
    pub clock_guard: Arc<ClockGuard>,
}

/// Why a token was not minted.
#[derive(Clone, Debug, thiserror::Error)]
pub enum MintError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The clock disagrees with the database's: a token signed now would not verify.
    #[error(transparent)]
    Clock(#[from] ClockUntrusted),
}

/// The customer id last read for each of up to [`CustomerIds::CAPACITY`] connections.
#[derive(Default)]
pub struct CustomerIds(Mutex<HashMap<ConnectionId, String>>);

impl CustomerIds {
    /// Past this many connections the map starts over (about 5 MiB at most).
    const CAPACITY: usize = 65_536;

    fn get(&self, connection: &ConnectionId) -> Option<String> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(connection).cloned()
    }

    fn remember(&self, connection: &ConnectionId, customer: &str) {
        let mut map = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if map.get(connection).is_some_and(|c| c == customer) {
            return;
        }
        if map.len() >= Self::CAPACITY {
            map.clear();
        }
        map.insert(connection.clone(), customer.to_owned());
    }
}

impl Minter {
    /// A signed token for connection `connection` of `client`, returned only once its
    /// issuance record is committed. `None` when the store refused the record: the
    /// connection is not the client's or is disconnected, or the key is revoked.
    ///
    /// The claims that can change (the customer id) are read in the very transaction that
    /// records the token, so neither a stale cache nor a concurrent change on another replica
    /// can put a refused or outdated token in anyone's hands. While that transaction commits,
    /// the token is signed with the customer id the connection's last token carried; the
    /// signature is used only if the transaction read that same id, and made again otherwise.
    pub async fn mint(
        &self,
        client: &ClientId,
        connection: &ConnectionId,
        api_key_id: &ApiKeyId,
    ) -> Result<Option<String>, MintError> {
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
    ) -> Result<Option<String>, MintError> {
        self.clock_guard.check()?;
        let now = self.clock.now();
        let jti = TokenId::generate();
        let signer = self.keyring.signer();
        let exp = now + self.ttl_secs;
        let pending = self
            .issuance
            .submit(IssuedToken {
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
        let claims = |customer_id: String| Claims {
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
        let early = self.customers.get(connection).map(|guess| (signer.sign(&claims(guess.clone())), guess));
        let Some(customer_id) = pending.wait().await? else { return Ok(None) };
        if let Some((token, guess)) = early
            && guess == customer_id
        {
            return Ok(Some(token));
        }
        self.customers.remember(connection, &customer_id);
        Ok(Some(signer.sign(&claims(customer_id))))
    }
}
