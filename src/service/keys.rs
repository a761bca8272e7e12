//! API keys: made (shown once) and revoked.
use super::core::Keys;
use super::{Actor, CoreError, audit_entry};
use crate::auth::api_key::PlainApiKey;
use crate::domain::api_key::ApiKeyRecord;
use crate::domain::ids::{ApiKeyId, ClientId};
use crate::service::Missing;

/// A new key of `client`: its record (the secret's digest only) and the key itself.
pub(crate) fn new_key(client: &ClientId, now: i64) -> (ApiKeyRecord, PlainApiKey) {
    let (id, key) = PlainApiKey::generate();
    let record =
        ApiKeyRecord { id, client_id: client.clone(), digest: key.digest(), created_at: now, revoked_at: None };
    (record, key)
}

impl Keys<'_> {
    /// Makes an API key for an existing client; the key is returned once and never stored.
    pub async fn create(
        &self,
        actor: Actor<'_>,
        client: &ClientId,
        now: i64,
    ) -> Result<(ApiKeyRecord, PlainApiKey), CoreError> {
        let store = self.core.store();
        if store.find_client(client).await?.is_none() {
            return Err(Missing::Client(client.clone()).into());
        }
        let (record, key) = new_key(client, now);
        let mut work = store.begin_work().await?;
        work.insert_api_key(&record).await?;
        if let Some(entry) = audit_entry(actor, "api_key.create", record.id.as_str(), now) {
            work.record_audit(&entry).await?;
        }
        work.commit().await?;
        Ok((record, key))
    }

    /// Revokes a key (of `client`, when one is named): it is refused from now on, on every
    /// replica. Revoking a revoked key changes nothing.
    pub async fn revoke(
        &self,
        actor: Actor<'_>,
        client: Option<&ClientId>,
        key: &ApiKeyId,
        now: i64,
    ) -> Result<ApiKeyRecord, CoreError> {
        let store = self.core.store();
        let mut work = store.begin_work().await?;
        let Some(mut record) = work.lock_api_key(key).await?.filter(|k| client.is_none_or(|c| &k.client_id == c))
        else {
            return Err(Missing::ApiKey(key.clone()).into());
        };
        // The first revocation stays.
        record.revoked_at = record.revoked_at.or(Some(now));
        work.save_api_key(&record).await?;
        if let Some(entry) = audit_entry(actor, "api_key.revoke", key.as_str(), now) {
            work.record_audit(&entry).await?;
        }
        work.commit().await?;
        Ok(record)
    }

    /// A key's record (the secret's digest only), whoever's it is: what authentication reads.
    pub async fn find(&self, key: &ApiKeyId) -> Result<Option<ApiKeyRecord>, CoreError> {
        let store = self.core.store();
        Ok(store.find_api_key(key).await?)
    }

    /// One of `client`'s keys; another client's is answered like a missing one.
    pub async fn find_of(&self, client: &ClientId, key: &ApiKeyId) -> Result<Option<ApiKeyRecord>, CoreError> {
        let store = self.core.store();
        Ok(store.find_api_key(key).await?.filter(|k| &k.client_id == client))
    }

    /// `client`'s keys, revoked ones included.
    pub async fn list(&self, client: &ClientId) -> Result<Vec<ApiKeyRecord>, CoreError> {
        let store = self.core.store();
        Ok(store.list_api_keys(client).await?)
    }

    /// When each of `client`'s keys was last used, where it was.
    pub async fn last_used(&self, client: &ClientId) -> Result<Vec<(ApiKeyId, Option<i64>)>, CoreError> {
        let store = self.core.store();
        Ok(store.api_keys_last_used(client).await?)
    }

    /// Records that `key` was used at `at` (the caller throttles this to once a minute a key).
    pub async fn note_used(&self, key: &ApiKeyId, at: i64) -> Result<(), CoreError> {
        let store = self.core.store();
        Ok(store.note_api_key_used(key, at).await?)
    }
}
