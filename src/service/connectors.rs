//! Connector credentials: made (shown once) and revoked.
use super::core::Connectors;
use super::{Actor, CoreError, audit};
use crate::auth::api_key::PlainApiKey;
use crate::domain::connector::{ConnectorCredential, ConnectorName};
use crate::domain::ids::ConnectorId;
use crate::service::{Invalid, Missing};
use crate::storage::StoreError;

impl Connectors<'_> {
    /// Makes a connector credential named `name`; the credential is returned once.
    pub async fn create(
        &self,
        actor: Actor<'_>,
        name: &str,
        now: i64,
    ) -> Result<(ConnectorCredential, PlainApiKey), CoreError> {
        let store = self.core.store();
        let name = ConnectorName::parse(name).map_err(Invalid::Name)?;
        let (id, credential) = PlainApiKey::generate_connector();
        let record = ConnectorCredential {
            id,
            name: name.into_inner(),
            digest: credential.digest(),
            created_at: now,
            revoked_at: None,
        };
        store.create_connector(&record).await?;
        audit(store, actor, "connector.create", record.id.as_str(), now).await?;
        Ok((record, credential))
    }

    /// Makes a credential named `name` after revoking any live one of that name: for a connector
    /// tessera starts itself on every start (the sandbox beside `serve --sandbox`), so that each
    /// start's credential replaces the last instead of piling up.
    pub async fn replace(
        &self,
        actor: Actor<'_>,
        name: &str,
        now: i64,
    ) -> Result<(ConnectorCredential, PlainApiKey), CoreError> {
        let store = self.core.store();
        for old in store.list_connectors().await? {
            if old.name == name && old.revoked_at.is_none() {
                self.revoke(actor, &old.id, now).await?;
            }
        }
        self.create(actor, name, now).await
    }

    /// Revokes a credential: the connector using it is refused from now on, on every replica.
    pub async fn revoke(&self, actor: Actor<'_>, id: &ConnectorId, now: i64) -> Result<ConnectorCredential, CoreError> {
        let store = self.core.store();
        let revoked = match store.revoke_connector(id, now).await {
            Err(StoreError::NotFound) => return Err(Missing::Connector(id.clone()).into()),
            other => other?,
        };
        audit(store, actor, "connector.revoke", id.as_str(), now).await?;
        Ok(revoked)
    }

    /// Every connector credential (digests only).
    pub async fn list(&self) -> Result<Vec<ConnectorCredential>, CoreError> {
        let store = self.core.store();
        Ok(store.list_connectors().await?)
    }

    /// One connector credential: what the connector's authentication reads.
    pub async fn find(&self, id: &ConnectorId) -> Result<Option<ConnectorCredential>, CoreError> {
        let store = self.core.store();
        Ok(store.find_connector(id).await?)
    }
}
