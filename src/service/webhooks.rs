//! A client's webhook endpoints, their signing secrets and their delivery logs. Another
//! client's webhook is answered exactly like a missing one.
use super::core::Webhooks;
use zeroize::Zeroizing;

use super::{Actor, CoreError, audit};
use crate::domain::ids::{ClientId, EventId, WebhookId};
use crate::domain::webhook::{Delivery, EventType, Webhook, WebhookPatch};
use crate::webhooks::signing;

/// How long a rotated-out signing secret keeps signing beside the new one.
pub(crate) const ROTATION_GRACE_SECS: i64 = 24 * 3600;

/// What a new endpoint is: its destination already checked against the operator's policy.
pub struct NewWebhook {
    pub name: String,
    pub url: String,
    pub event_types: Vec<EventType>,
    pub is_active: bool,
}

impl Webhooks<'_> {
    /// Registers an endpoint of `client` with a new signing secret, returned this once: only
    /// its sealed form is kept.
    pub async fn create(
        &self,
        client: &ClientId,
        new: NewWebhook,
        now: i64,
    ) -> Result<(Webhook, Zeroizing<String>), CoreError> {
        let store = self.core.store();
        let kek = self.core.kek()?;
        let id = WebhookId::generate();
        let secret = signing::new_secret();
        let webhook = Webhook {
            secret_sealed: signing::seal(kek, &id, &secret),
            id,
            client_id: client.clone(),
            name: new.name,
            url: new.url,
            event_types: new.event_types,
            is_active: new.is_active,
            previous_secret_sealed: None,
            previous_expires_at: None,
            created_at: now,
            updated_at: now,
            last_success_at: None,
            disabled_reason: None,
        };
        store.create_webhook(&webhook).await?;
        Ok((webhook, secret))
    }

    /// `client`'s endpoints.
    pub async fn list(&self, client: &ClientId) -> Result<Vec<Webhook>, CoreError> {
        let store = self.core.store();
        Ok(store.list_webhooks(client).await?)
    }

    /// One of `client`'s endpoints.
    pub async fn find(&self, client: &ClientId, id: &WebhookId) -> Result<Option<Webhook>, CoreError> {
        let store = self.core.store();
        Ok(store.find_webhook(client, id).await?)
    }

    /// Applies `patch` (its url already checked) to one of `client`'s endpoints.
    pub async fn update(
        &self,
        client: &ClientId,
        id: &WebhookId,
        patch: &WebhookPatch,
        now: i64,
    ) -> Result<Option<Webhook>, CoreError> {
        let store = self.core.store();
        Ok(store.update_webhook(client, id, patch, now).await?)
    }

    /// Removes one of `client`'s endpoints; whether there was one.
    pub async fn delete(&self, client: &ClientId, id: &WebhookId) -> Result<bool, CoreError> {
        let store = self.core.store();
        Ok(store.delete_webhook(client, id).await?)
    }

    /// A new signing secret, returned once, and when the one it replaces stops signing beside it
    /// ([`ROTATION_GRACE_SECS`] from now, so receivers can switch without missing a delivery);
    /// `None` when `client` has no such endpoint.
    pub async fn rotate_secret(
        &self,
        client: &ClientId,
        id: &WebhookId,
        now: i64,
    ) -> Result<Option<(Zeroizing<String>, i64)>, CoreError> {
        let store = self.core.store();
        let kek = self.core.kek()?;
        let secret = signing::new_secret();
        let sealed = signing::seal(kek, id, &secret);
        let expires = now + ROTATION_GRACE_SECS;
        Ok(store.rotate_webhook_secret(client, id, &sealed, expires, now).await?.map(|_| (secret, expires)))
    }

    /// Up to `limit` of an endpoint's deliveries, newest event first, older than `before`.
    pub async fn deliveries(
        &self,
        client: &ClientId,
        id: &WebhookId,
        before: Option<&EventId>,
        limit: u32,
    ) -> Result<Vec<Delivery>, CoreError> {
        let store = self.core.store();
        Ok(store.list_deliveries(client, id, before, limit).await?)
    }

    /// Schedules `event` to be sent to the endpoint again, with its original id; `false` when
    /// the endpoint has no such delivery. An operator's redelivery is audited.
    pub async fn redeliver(
        &self,
        actor: Actor<'_>,
        client: &ClientId,
        id: &WebhookId,
        event: &EventId,
        now: i64,
    ) -> Result<bool, CoreError> {
        let store = self.core.store();
        if !store.redeliver(client, id, event, now).await? {
            return Ok(false);
        }
        audit(store, actor, "webhook.redeliver", &format!("{id}/{event}"), now).await?;
        Ok(true)
    }
}
