//! Clients: the tenants.
use super::core::Clients;
use super::{Actor, CoreError, audit};
use crate::auth::api_key::PlainApiKey;
use crate::domain::client::{Client, ClientName};
use crate::domain::ids::ClientId;
use crate::service::{Invalid, Missing};

impl Clients<'_> {
    /// Makes a client named `name` (trimmed; 1 to [`ClientName::MAX_CHARS`] characters).
    pub async fn create(&self, actor: Actor<'_>, name: &str, now: i64) -> Result<Client, CoreError> {
        let store = self.core.store();
        let name = ClientName::parse(name).map_err(Invalid::Name)?;
        let client = Client { id: ClientId::generate(), name: name.into_inner(), created_at: now };
        store.create_client(&client).await?;
        audit(store, actor, "client.create", client.id.as_str(), now).await?;
        Ok(client)
    }

    /// Gives client `id` the name `name` (parsed as for [`create`]) and records who renamed it,
    /// from which name to which, in the audit log, whoever acts (an operator, a client's own API
    /// key, the command line). Returns the client as renamed.
    pub async fn rename(&self, actor: Actor<'_>, id: &ClientId, name: &str, now: i64) -> Result<Client, CoreError> {
        let store = self.core.store();
        let name = ClientName::parse(name).map_err(Invalid::Name)?;
        let mut work = store.begin_work().await?;
        let Some(mut client) = work.lock_client(id).await? else {
            return Err(Missing::Client(id.clone()).into());
        };
        let target = format!("{id}: {:?} -> {:?}", client.name, name.as_str());
        client.name = name.into_inner();
        work.save_client(&client).await?;
        work.record_audit(&super::audit_entry_any(actor, "client.rename", &target, now)).await?;
        work.commit().await?;
        Ok(client)
    }

    /// On an empty database, the default client and its first key (shown once); `None` when the
    /// database has a client already (another replica may have made it a moment ago).
    pub async fn bootstrap(&self, now: i64) -> Result<Option<(Client, PlainApiKey)>, CoreError> {
        let store = self.core.store();
        let client = Client { id: ClientId::generate(), name: "default".into(), created_at: now };
        let (record, key) = super::keys::new_key(&client.id, now);
        let created = store.bootstrap_client(&client, &record).await?;
        Ok(created.then_some((client, key)))
    }

    /// Every client, oldest first.
    pub async fn list(&self) -> Result<Vec<Client>, CoreError> {
        let store = self.core.store();
        Ok(store.list_clients().await?)
    }

    /// One client.
    pub async fn find(&self, id: &ClientId) -> Result<Option<Client>, CoreError> {
        let store = self.core.store();
        Ok(store.find_client(id).await?)
    }
}
