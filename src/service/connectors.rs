//! Connector credentials: made (shown once) and revoked.
use super::{Actor, CoreError, audit};
use crate::auth::api_key::PlainApiKey;
use crate::domain::connector::{ConnectorCredential, ConnectorName};
use crate::domain::ids::ConnectorId;
use crate::storage::{Store, StoreError};

/// Makes a connector credential named `name`; the credential is returned once.
pub async fn create(
    store: &dyn Store,
    actor: Actor<'_>,
    name: &str,
    now: i64,
) -> Result<(ConnectorCredential, PlainApiKey), CoreError> {
    let name = ConnectorName::parse(name).map_err(CoreError::Invalid)?;
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
    store: &dyn Store,
    actor: Actor<'_>,
    name: &str,
    now: i64,
) -> Result<(ConnectorCredential, PlainApiKey), CoreError> {
    for old in store.list_connectors().await? {
        if old.name == name && old.revoked_at.is_none() {
            revoke(store, actor, &old.id, now).await?;
        }
    }
    create(store, actor, name, now).await
}

/// Revokes a credential: the connector using it is refused from now on, on every replica.
pub async fn revoke(
    store: &dyn Store,
    actor: Actor<'_>,
    id: &ConnectorId,
    now: i64,
) -> Result<ConnectorCredential, CoreError> {
    let revoked = match store.revoke_connector(id, now).await {
        Err(StoreError::NotFound) => return Err(CoreError::NotFound(format!("no connector credential {id}"))),
        other => other?,
    };
    audit(store, actor, "connector.revoke", id.as_str(), now).await?;
    Ok(revoked)
}

/// Every connector credential (digests only).
pub async fn list(store: &dyn Store) -> Result<Vec<ConnectorCredential>, CoreError> {
    Ok(store.list_connectors().await?)
}

/// One connector credential: what the connector's authentication reads.
pub async fn find(store: &dyn Store, id: &ConnectorId) -> Result<Option<ConnectorCredential>, CoreError> {
    Ok(store.find_connector(id).await?)
}
