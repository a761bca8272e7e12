//! Webhook endpoints, the outbox and its deliveries.
use crate::domain::ids::{ClientId, EventId, WebhookId};
use crate::domain::webhook::{Attempt, ClaimedDelivery, Delivery, Webhook, WebhookPatch};
use crate::storage::StoreError;

store_trait! {
/// Webhook endpoints, their outbox and its deliveries.
pub trait WebhookStore {
    async fn create_webhook(&self, webhook: &Webhook) -> Result<(), StoreError>;
    async fn list_webhooks(&self, client: &ClientId) -> Result<Vec<Webhook>, StoreError>;
    async fn find_webhook(&self, client: &ClientId, id: &WebhookId) -> Result<Option<Webhook>, StoreError>;
    /// Applies `patch`; `None` when there is no such webhook of `client`. Turning an endpoint
    /// on clears the reason tessera turned it off.
    async fn update_webhook(
        &self,
        client: &ClientId,
        id: &WebhookId,
        patch: &WebhookPatch,
        at: i64,
    ) -> Result<Option<Webhook>, StoreError>;
    /// Deletes a webhook and its pending deliveries; `false` when there was none.
    async fn delete_webhook(&self, client: &ClientId, id: &WebhookId) -> Result<bool, StoreError>;
    /// Replaces the signing secret; the one it replaces still signs until `previous_expires_at`.
    async fn rotate_webhook_secret(
        &self,
        client: &ClientId,
        id: &WebhookId,
        secret_sealed: &[u8],
        previous_expires_at: i64,
        at: i64,
    ) -> Result<Option<Webhook>, StoreError>;
    /// A webhook's deliveries, newest first: at most `limit` older than the event `before`.
    async fn list_deliveries(
        &self,
        client: &ClientId,
        id: &WebhookId,
        before: Option<&EventId>,
        limit: u32,
    ) -> Result<Vec<Delivery>, StoreError>;
    /// Schedules one event's delivery to a webhook again, now; `false` when the webhook has no
    /// delivery of that event.
    async fn redeliver(&self, client: &ClientId, id: &WebhookId, event: &EventId, now: i64)
    -> Result<bool, StoreError>;
    /// Claims up to `limit` due deliveries until `lease_until`. A delivery waits while an
    /// earlier event of the same connection to the same webhook is still pending, so one
    /// connection's events arrive in order.
    async fn claim_deliveries(
        &self,
        now: i64,
        lease_until: i64,
        limit: u32,
    ) -> Result<Vec<ClaimedDelivery>, StoreError>;
    /// Records how an attempt ended. A delivery that fails past its retry window is given up
    /// (`retry_at` is `None`); if its webhook delivered nothing since the event, the webhook is
    /// turned off with a reason.
    async fn finish_delivery(
        &self,
        webhook: &WebhookId,
        event_seq: i64,
        attempt: &Attempt,
        now: i64,
    ) -> Result<(), StoreError>;
    /// Gives a claim back unattempted (the dispatcher is busy with that endpoint).
    async fn release_claim(&self, webhook: &WebhookId, event_seq: i64) -> Result<(), StoreError>;
    /// Events and deliveries waiting: (undelivered deliveries, created_at of the oldest).
    async fn outbox_depth(&self) -> Result<(i64, Option<i64>), StoreError>;
}
}

/// Implements [`crate::storage::WebhookStore`] for a backend.
macro_rules! webhooks {
    ($store:ty) => {
        fn webhook_from(row: &DbRow) -> Result<Webhook, StoreError> {
            let types: String = row.try_get("event_types").map_err(map_err)?;
            let names: Vec<String> =
                serde_json::from_str(&types).map_err(|e| StoreError::Corrupt($crate::storage::cause(e)))?;
            let event_types = names
                .iter()
                .map(|n| EventType::parse(n))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| StoreError::Corrupt($crate::storage::cause_msg("unknown webhook event type")))?;
            Ok(Webhook {
                id: row.try_get("id").map_err(map_err)?,
                client_id: row.try_get("client_id").map_err(map_err)?,
                name: row.try_get("name").map_err(map_err)?,
                url: row.try_get("url").map_err(map_err)?,
                event_types,
                is_active: row.try_get("is_active").map_err(map_err)?,
                secret_sealed: row.try_get("secret_sealed").map_err(map_err)?,
                previous_secret_sealed: row.try_get("previous_secret_sealed").map_err(map_err)?,
                previous_expires_at: row.try_get("previous_expires_at").map_err(map_err)?,
                created_at: row.try_get("created_at").map_err(map_err)?,
                updated_at: row.try_get("updated_at").map_err(map_err)?,
                last_success_at: row.try_get("last_success_at").map_err(map_err)?,
                disabled_reason: row.try_get("disabled_reason").map_err(map_err)?,
            })
        }

        fn event_types_text(types: &[EventType]) -> String {
            serde_json::json!(types.iter().map(|t| t.as_str()).collect::<Vec<_>>()).to_string()
        }

        #[async_trait::async_trait]
        impl $crate::storage::WebhookStore for $store {
            async fn create_webhook(&self, w: &Webhook) -> Result<(), StoreError> {
                sqlx::query(&format!(
                    "INSERT INTO webhooks ({WEBHOOK_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
                ))
                .bind(&w.id)
                .bind(&w.client_id)
                .bind(&w.name)
                .bind(&w.url)
                .bind(event_types_text(&w.event_types))
                .bind(w.is_active)
                .bind(&w.secret_sealed)
                .bind(&w.previous_secret_sealed)
                .bind(w.previous_expires_at)
                .bind(w.created_at)
                .bind(w.updated_at)
                .bind(w.last_success_at)
                .bind(&w.disabled_reason)
                .execute(self.pool())
                .await
                .map_err(map_err)?;
                Ok(())
            }

            async fn list_webhooks(&self, client: &ClientId) -> Result<Vec<Webhook>, StoreError> {
                sqlx::query(&format!("SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE client_id = $1 ORDER BY id"))
                    .bind(client)
                    .fetch_all(self.pool())
                    .await
                    .map_err(map_err)?
                    .iter()
                    .map(webhook_from)
                    .collect()
            }

            async fn find_webhook(&self, client: &ClientId, id: &WebhookId) -> Result<Option<Webhook>, StoreError> {
                sqlx::query(&format!("SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE id = $1 AND client_id = $2"))
                    .bind(id)
                    .bind(client)
                    .fetch_optional(self.pool())
                    .await
                    .map_err(map_err)?
                    .as_ref()
                    .map(webhook_from)
                    .transpose()
            }

            async fn update_webhook(
                &self,
                client: &ClientId,
                id: &WebhookId,
                patch: &WebhookPatch,
                at: i64,
            ) -> Result<Option<Webhook>, StoreError> {
                sqlx::query(&format!(
                    "UPDATE webhooks SET
                       name            = CASE WHEN $3 THEN $4 ELSE name END,
                       url             = CASE WHEN $5 THEN $6 ELSE url END,
                       event_types     = CASE WHEN $7 THEN $8 ELSE event_types END,
                       is_active       = CASE WHEN $9 THEN $10 ELSE is_active END,
                       disabled_reason = CASE WHEN $10 THEN NULL ELSE disabled_reason END,
                       updated_at      = $11
                     WHERE id = $1 AND client_id = $2
                     RETURNING {WEBHOOK_COLUMNS}"
                ))
                .bind(id)
                .bind(client)
                .bind(patch.name.is_some())
                .bind(patch.name.as_deref())
                .bind(patch.url.is_some())
                .bind(patch.url.as_deref())
                .bind(patch.event_types.is_some())
                .bind(patch.event_types.as_deref().map(event_types_text))
                .bind(patch.is_active.is_some())
                .bind(patch.is_active.unwrap_or(false))
                .bind(at)
                .fetch_optional(self.pool())
                .await
                .map_err(map_err)?
                .as_ref()
                .map(webhook_from)
                .transpose()
            }

            async fn delete_webhook(&self, client: &ClientId, id: &WebhookId) -> Result<bool, StoreError> {
                let mut tx = self.begin_write(WriteLock::None).await?;
                let done = sqlx::query("DELETE FROM webhooks WHERE id = $1 AND client_id = $2")
                    .bind(id)
                    .bind(client)
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?;
                if done.rows_affected() == 0 {
                    return Ok(false);
                }
                sqlx::query("DELETE FROM webhook_deliveries WHERE webhook_id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?;
                tx.commit().await.map_err(map_err)?;
                Ok(true)
            }

            async fn rotate_webhook_secret(
                &self,
                client: &ClientId,
                id: &WebhookId,
                secret_sealed: &[u8],
                previous_expires_at: i64,
                at: i64,
            ) -> Result<Option<Webhook>, StoreError> {
                sqlx::query(&format!(
                    "UPDATE webhooks SET previous_secret_sealed = secret_sealed, previous_expires_at = $3,
                       secret_sealed = $4, updated_at = $5
                     WHERE id = $1 AND client_id = $2 RETURNING {WEBHOOK_COLUMNS}"
                ))
                .bind(id)
                .bind(client)
                .bind(previous_expires_at)
                .bind(secret_sealed)
                .bind(at)
                .fetch_optional(self.pool())
                .await
                .map_err(map_err)?
                .as_ref()
                .map(webhook_from)
                .transpose()
            }

            async fn list_deliveries(
                &self,
                client: &ClientId,
                id: &WebhookId,
                before: Option<&EventId>,
                limit: u32,
            ) -> Result<Vec<Delivery>, StoreError> {
                let rows = sqlx::query(
                    "SELECT e.id AS event_id, e.type AS type, d.connection_id, d.attempts, d.last_status, d.last_error,
                            d.next_attempt_at, d.delivered_at, d.failed_at, d.created_at
                     FROM webhook_deliveries d JOIN webhook_events e ON e.seq = d.event_seq
                     WHERE d.client_id = $1 AND d.webhook_id = $2 AND ($3 IS NULL OR e.id < $3)
                     ORDER BY e.id DESC LIMIT $4",
                )
                .bind(client)
                .bind(id)
                .bind(before)
                .bind(i64::from(limit))
                .fetch_all(self.pool())
                .await
                .map_err(map_err)?;
                rows.iter()
                    .map(|row| {
                        let row: &DbRow = row;
                        let kind: String = row.try_get("type").map_err(map_err)?;
                        let delivered_at: Option<i64> = row.try_get("delivered_at").map_err(map_err)?;
                        let failed_at: Option<i64> = row.try_get("failed_at").map_err(map_err)?;
                        let next: i64 = row.try_get("next_attempt_at").map_err(map_err)?;
                        let attempts: i32 = row.try_get("attempts").map_err(map_err)?;
                        let last_status: Option<i32> = row.try_get("last_status").map_err(map_err)?;
                        Ok(Delivery {
                            event_id: row.try_get("event_id").map_err(map_err)?,
                            kind: EventType::parse(&kind).ok_or_else(|| {
                                StoreError::Corrupt($crate::storage::cause_msg("unknown webhook event type"))
                            })?,
                            connection_id: row.try_get("connection_id").map_err(map_err)?,
                            attempts: i64::from(attempts),
                            last_status: last_status.map(i64::from),
                            last_error: row.try_get("last_error").map_err(map_err)?,
                            next_attempt_at: (delivered_at.is_none() && failed_at.is_none()).then_some(next),
                            delivered_at,
                            failed_at,
                            created_at: row.try_get("created_at").map_err(map_err)?,
                        })
                    })
                    .collect()
            }

            async fn redeliver(&self, client: &ClientId, id: &WebhookId, event: &EventId, now: i64) -> Result<bool, StoreError> {
                let done = sqlx::query(
                    "UPDATE webhook_deliveries SET delivered_at = NULL, failed_at = NULL, lease_until = NULL,
                       next_attempt_at = $4
                     WHERE client_id = $1 AND webhook_id = $2
                       AND event_seq = (SELECT seq FROM webhook_events WHERE id = $3)",
                )
                .bind(client)
                .bind(id)
                .bind(event)
                .bind(now)
                .execute(self.pool())
                .await
                .map_err(map_err)?;
                Ok(done.rows_affected() > 0)
            }

            async fn claim_deliveries(&self, now: i64, lease_until: i64, limit: u32) -> Result<Vec<ClaimedDelivery>, StoreError> {
                let mut tx = self.begin_write(WriteLock::None).await?;
                let claimed: Vec<(WebhookId, i64)> = sqlx::query_as(&format!(
                    "UPDATE webhook_deliveries SET lease_until = $2
                     WHERE (webhook_id, event_seq) IN (
                       SELECT d.webhook_id, d.event_seq FROM webhook_deliveries d
                       JOIN webhooks w ON w.id = d.webhook_id
                       WHERE d.delivered_at IS NULL AND d.failed_at IS NULL AND d.next_attempt_at <= $1
                         AND (d.lease_until IS NULL OR d.lease_until < $1) AND w.is_active = $4
                         AND NOT EXISTS (
                           SELECT 1 FROM webhook_deliveries e
                           WHERE e.webhook_id = d.webhook_id AND e.connection_id = d.connection_id
                             AND e.event_seq < d.event_seq AND e.delivered_at IS NULL AND e.failed_at IS NULL)
                       ORDER BY d.next_attempt_at LIMIT $3{}
                     )
                     RETURNING webhook_id, event_seq",
                    <$store as $crate::storage::sql::SqlBackend>::SKIP_LOCKED
                ))
                .bind(now)
                .bind(lease_until)
                .bind(i64::from(limit))
                .bind(true)
                .fetch_all(&mut *tx)
                .await
                .map_err(map_err)?;
                let mut out = Vec::with_capacity(claimed.len());
                for (webhook_id, seq) in claimed {
                    let row = sqlx::query(
                        "SELECT w.url, w.secret_sealed, w.previous_secret_sealed, w.previous_expires_at,
                                e.id, e.type, e.payload, e.created_at, d.attempts
                         FROM webhook_deliveries d
                         JOIN webhooks w ON w.id = d.webhook_id
                         JOIN webhook_events e ON e.seq = d.event_seq
                         WHERE d.webhook_id = $1 AND d.event_seq = $2",
                    )
                    .bind(&webhook_id)
                    .bind(seq)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(map_err)?;
                    let row: &DbRow = &row;
                    let kind: String = row.try_get("type").map_err(map_err)?;
                    let payload: String = row.try_get("payload").map_err(map_err)?;
                    let previous_expires_at: Option<i64> = row.try_get("previous_expires_at").map_err(map_err)?;
                    let previous: Option<Vec<u8>> = row.try_get("previous_secret_sealed").map_err(map_err)?;
                    let attempts: i32 = row.try_get("attempts").map_err(map_err)?;
                    out.push(ClaimedDelivery {
                        webhook_id,
                        event_seq: seq,
                        url: row.try_get("url").map_err(map_err)?,
                        secret_sealed: row.try_get("secret_sealed").map_err(map_err)?,
                        previous_secret_sealed: previous.filter(|_| previous_expires_at.is_some_and(|t| t > now)),
                        event: WebhookEvent {
                            id: row.try_get("id").map_err(map_err)?,
                            kind: EventType::parse(&kind).ok_or_else(|| {
                                StoreError::Corrupt($crate::storage::cause_msg("unknown webhook event type"))
                            })?,
                            payload: serde_json::from_str(&payload)
                                .map_err(|e| StoreError::Corrupt($crate::storage::cause(e)))?,
                            created_at: row.try_get("created_at").map_err(map_err)?,
                        },
                        attempts: i64::from(attempts),
                    });
                }
                tx.commit().await.map_err(map_err)?;
                Ok(out)
            }

            async fn finish_delivery(
                &self,
                webhook: &WebhookId,
                event_seq: i64,
                attempt: &Attempt,
                now: i64,
            ) -> Result<(), StoreError> {
                let mut tx = self.begin_write(WriteLock::None).await?;
                match attempt {
                    Attempt::Delivered { status } => {
                        sqlx::query(
                            "UPDATE webhook_deliveries SET attempts = attempts + 1, delivered_at = $3, last_status = $4,
                               last_error = NULL, lease_until = NULL WHERE webhook_id = $1 AND event_seq = $2",
                        )
                        .bind(webhook)
                        .bind(event_seq)
                        .bind(now)
                        .bind(i32::from(*status))
                        .execute(&mut *tx)
                        .await
                        .map_err(map_err)?;
                        sqlx::query("UPDATE webhooks SET last_success_at = $2 WHERE id = $1")
                            .bind(webhook)
                            .bind(now)
                            .execute(&mut *tx)
                            .await
                            .map_err(map_err)?;
                    }
                    Attempt::Failed { status, error, retry_at } => {
                        sqlx::query(
                            "UPDATE webhook_deliveries SET attempts = attempts + 1, last_status = $3, last_error = $4,
                               lease_until = NULL, next_attempt_at = COALESCE($5, next_attempt_at),
                               failed_at = CASE WHEN $5 IS NULL THEN $6 ELSE NULL END
                             WHERE webhook_id = $1 AND event_seq = $2",
                        )
                        .bind(webhook)
                        .bind(event_seq)
                        .bind(status.map(i32::from))
                        .bind(error)
                        .bind(*retry_at)
                        .bind(now)
                        .execute(&mut *tx)
                        .await
                        .map_err(map_err)?;
                        if retry_at.is_none() {
                            // Nothing delivered since this event: the endpoint failed for its
                            // whole retry window.
                            sqlx::query(
                                "UPDATE webhooks SET is_active = $3, disabled_reason = $4
                                 WHERE id = $1 AND (last_success_at IS NULL OR last_success_at <
                                   (SELECT created_at FROM webhook_deliveries WHERE webhook_id = $1 AND event_seq = $2))",
                            )
                            .bind(webhook)
                            .bind(event_seq)
                            .bind(false)
                            .bind(format!(
                                "turned off at {now}: every delivery failed for the whole retry window (last: {error})"
                            ))
                            .execute(&mut *tx)
                            .await
                            .map_err(map_err)?;
                        }
                    }
                }
                tx.commit().await.map_err(map_err)
            }

            async fn release_claim(&self, webhook: &WebhookId, event_seq: i64) -> Result<(), StoreError> {
                sqlx::query("UPDATE webhook_deliveries SET lease_until = NULL WHERE webhook_id = $1 AND event_seq = $2")
                    .bind(webhook)
                    .bind(event_seq)
                    .execute(self.pool())
                    .await
                    .map_err(map_err)?;
                Ok(())
            }

            async fn outbox_depth(&self) -> Result<(i64, Option<i64>), StoreError> {
                sqlx::query_as(
                    "SELECT COUNT(*), MIN(created_at) FROM webhook_deliveries WHERE delivered_at IS NULL AND failed_at IS NULL",
                )
                .fetch_one(self.pool())
                .await
                .map_err(map_err)
            }
        }
    };
}

pub(crate) use webhooks;
