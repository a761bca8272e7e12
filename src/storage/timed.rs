//! A time limit on every storage call. PostgreSQL enforces tessera's statement and lock
//! timeouts itself, and the pool bounds the wait for a connection; but a database that stops
//! answering while a statement is in flight enforces nothing, and without this the request
//! (and, for a token, the group commit and every token request behind it) would wait until it
//! answered again. Past the limit the call ends as `Unavailable`: the request is answered
//! `503`. Migrations are not limited (a large one may take a while).
//!
//! One delegation per verb: the compiler keeps it complete, since `Timed` must implement every
//! trait `Store` requires.
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::*;

/// A [`Store`] whose every call ends within `limit`, and which remembers when a write last
/// failed for a full disk.
pub struct Timed {
    inner: Arc<dyn Store>,
    limit: Duration,
    disk_full: Arc<DiskFullSeen>,
}

/// When a call last failed with [`StoreError::DiskFull`], in milliseconds since `start`
/// (`-1`: never).
struct DiskFullSeen {
    start: std::time::Instant,
    last_ms: std::sync::atomic::AtomicI64,
}

/// For this long after a write failed for a full disk, the store does not count as writable,
/// even when a probe finds room: a probe's one small write can fit where a batch does not.
const DISK_FULL_HOLD: Duration = Duration::from_secs(5);

impl DiskFullSeen {
    fn note<T>(&self, result: &Result<T, StoreError>) {
        if let Err(StoreError::DiskFull(_)) = result {
            let ms = i64::try_from(self.start.elapsed().as_millis()).unwrap_or(i64::MAX);
            self.last_ms.store(ms, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// How long ago a call failed for a full disk, if it did within [`DISK_FULL_HOLD`].
    fn recent(&self) -> Option<Duration> {
        let last = self.last_ms.load(std::sync::atomic::Ordering::Relaxed);
        let ago = Duration::from_millis(u64::try_from(last).ok()?);
        let ago = self.start.elapsed().saturating_sub(ago);
        (ago < DISK_FULL_HOLD).then_some(ago)
    }
}

impl Timed {
    pub fn new(inner: Arc<dyn Store>, limit: Duration) -> Self {
        let disk_full =
            Arc::new(DiskFullSeen { start: std::time::Instant::now(), last_ms: std::sync::atomic::AtomicI64::new(-1) });
        Self { inner, limit, disk_full }
    }

    async fn timed<T>(&self, call: impl std::future::Future<Output = Result<T, StoreError>>) -> Result<T, StoreError> {
        let result = match tokio::time::timeout(self.limit, call).await {
            Ok(result) => result,
            Err(_) => Err(StoreError::Unavailable(cause_msg(format!(
                "the database did not answer within {} s",
                self.limit.as_secs_f64()
            )))),
        };
        self.disk_full.note(&result);
        result
    }
}

/// The issuance writer's own connection, watched for a full disk like every other call.
struct Watched {
    inner: Box<dyn IssuanceConnection>,
    disk_full: Arc<DiskFullSeen>,
}

impl IssuanceConnection for Watched {
    fn record(&mut self, batch: &[IssuedToken]) -> Result<Vec<Recorded>, StoreError> {
        let result = self.inner.record(batch);
        self.disk_full.note(&result);
        result
    }

    fn maintain(&mut self) {
        self.inner.maintain();
    }
}

#[async_trait]
impl Database for Timed {
    async fn migrate(&self) -> Result<Vec<String>, StoreError> {
        self.inner.migrate().await
    }

    async fn is_initialized(&self) -> Result<bool, StoreError> {
        self.timed(self.inner.is_initialized()).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.timed(self.inner.ping()).await
    }

    async fn clock_reference(&self) -> Result<ClockReference, StoreError> {
        self.timed(self.inner.clock_reference()).await
    }

    async fn writable(&self) -> Result<(), StoreError> {
        self.timed(self.inner.writable()).await?;
        match self.disk_full.recent() {
            Some(ago) => Err(StoreError::DiskFull(cause_msg(format!(
                "a write failed for a full disk {} ms ago",
                ago.as_millis()
            )))),
            None => Ok(()),
        }
    }

    fn pool_stats(&self) -> PoolStats {
        self.inner.pool_stats()
    }

    /// Not limited here: its caller waits for each answer within the same limit.
    fn issuance_connection(&self) -> Result<Option<Box<dyn IssuanceConnection>>, StoreError> {
        Ok(self
            .inner
            .issuance_connection()?
            .map(|inner| Box::new(Watched { inner, disk_full: self.disk_full.clone() }) as Box<dyn IssuanceConnection>))
    }

    fn call_limit(&self) -> Option<Duration> {
        Some(self.limit)
    }
}

#[async_trait]
impl ClientStore for Timed {
    async fn create_client(&self, client: &Client) -> Result<(), StoreError> {
        self.timed(self.inner.create_client(client)).await
    }

    async fn find_client(&self, id: &ClientId) -> Result<Option<Client>, StoreError> {
        self.timed(self.inner.find_client(id)).await
    }

    async fn list_clients(&self) -> Result<Vec<Client>, StoreError> {
        self.timed(self.inner.list_clients()).await
    }

    async fn bootstrap_client(&self, client: &Client, key: &ApiKeyRecord) -> Result<bool, StoreError> {
        self.timed(self.inner.bootstrap_client(client, key)).await
    }
}

#[async_trait]
impl ApiKeyStore for Timed {
    async fn create_api_key(&self, key: &ApiKeyRecord) -> Result<(), StoreError> {
        self.timed(self.inner.create_api_key(key)).await
    }

    async fn find_api_key(&self, id: &ApiKeyId) -> Result<Option<ApiKeyRecord>, StoreError> {
        self.timed(self.inner.find_api_key(id)).await
    }

    async fn list_api_keys(&self, client: &ClientId) -> Result<Vec<ApiKeyRecord>, StoreError> {
        self.timed(self.inner.list_api_keys(client)).await
    }

    async fn revoke_api_key(&self, id: &ApiKeyId, at: i64) -> Result<ApiKeyRecord, StoreError> {
        self.timed(self.inner.revoke_api_key(id, at)).await
    }
}

#[async_trait]
impl ConnectionStore for Timed {
    async fn create_connection(&self, connection: &Connection, change: &Change) -> Result<(), StoreError> {
        self.timed(self.inner.create_connection(connection, change)).await
    }

    async fn find_connection(&self, client: &ClientId, id: &ConnectionId) -> Result<Option<Connection>, StoreError> {
        self.timed(self.inner.find_connection(client, id)).await
    }

    async fn list_connections(&self, client: &ClientId, customer_id: &str) -> Result<Vec<Connection>, StoreError> {
        self.timed(self.inner.list_connections(client, customer_id)).await
    }

    async fn update_connection(
        &self,
        client: &ClientId,
        id: &ConnectionId,
        patch: &ConnectionPatch,
        change: &Change,
    ) -> Result<Option<Connection>, StoreError> {
        self.timed(self.inner.update_connection(client, id, patch, change)).await
    }

    async fn delete_connection(
        &self,
        client: &ClientId,
        id: &ConnectionId,
        change: &Change,
    ) -> Result<bool, StoreError> {
        self.timed(self.inner.delete_connection(client, id, change)).await
    }

    async fn set_connection_status(
        &self,
        id: &ConnectionId,
        to: ConnectionStatus,
        reason: Option<&str>,
        change: &Change,
    ) -> Result<StatusChange, StoreError> {
        self.timed(self.inner.set_connection_status(id, to, reason, change)).await
    }

    async fn find_any_connection(&self, id: &ConnectionId) -> Result<Option<Connection>, StoreError> {
        self.timed(self.inner.find_any_connection(id)).await
    }
}

#[async_trait]
impl ConnectorStore for Timed {
    async fn create_connector(&self, credential: &ConnectorCredential) -> Result<(), StoreError> {
        self.timed(self.inner.create_connector(credential)).await
    }

    async fn find_connector(&self, id: &ConnectorId) -> Result<Option<ConnectorCredential>, StoreError> {
        self.timed(self.inner.find_connector(id)).await
    }

    async fn list_connectors(&self) -> Result<Vec<ConnectorCredential>, StoreError> {
        self.timed(self.inner.list_connectors()).await
    }

    async fn revoke_connector(&self, id: &ConnectorId, at: i64) -> Result<ConnectorCredential, StoreError> {
        self.timed(self.inner.revoke_connector(id, at)).await
    }
}

#[async_trait]
impl WebhookStore for Timed {
    async fn create_webhook(&self, webhook: &Webhook) -> Result<(), StoreError> {
        self.timed(self.inner.create_webhook(webhook)).await
    }

    async fn list_webhooks(&self, client: &ClientId) -> Result<Vec<Webhook>, StoreError> {
        self.timed(self.inner.list_webhooks(client)).await
    }

    async fn find_webhook(&self, client: &ClientId, id: &WebhookId) -> Result<Option<Webhook>, StoreError> {
        self.timed(self.inner.find_webhook(client, id)).await
    }

    async fn update_webhook(
        &self,
        client: &ClientId,
        id: &WebhookId,
        patch: &WebhookPatch,
        at: i64,
    ) -> Result<Option<Webhook>, StoreError> {
        self.timed(self.inner.update_webhook(client, id, patch, at)).await
    }

    async fn delete_webhook(&self, client: &ClientId, id: &WebhookId) -> Result<bool, StoreError> {
        self.timed(self.inner.delete_webhook(client, id)).await
    }

    async fn rotate_webhook_secret(
        &self,
        client: &ClientId,
        id: &WebhookId,
        secret_sealed: &[u8],
        previous_expires_at: i64,
        at: i64,
    ) -> Result<Option<Webhook>, StoreError> {
        self.timed(self.inner.rotate_webhook_secret(client, id, secret_sealed, previous_expires_at, at)).await
    }

    async fn list_deliveries(
        &self,
        client: &ClientId,
        id: &WebhookId,
        before: Option<&EventId>,
        limit: u32,
    ) -> Result<Vec<Delivery>, StoreError> {
        self.timed(self.inner.list_deliveries(client, id, before, limit)).await
    }

    async fn redeliver(
        &self,
        client: &ClientId,
        id: &WebhookId,
        event: &EventId,
        now: i64,
    ) -> Result<bool, StoreError> {
        self.timed(self.inner.redeliver(client, id, event, now)).await
    }

    async fn claim_deliveries(
        &self,
        now: i64,
        lease_until: i64,
        limit: u32,
    ) -> Result<Vec<ClaimedDelivery>, StoreError> {
        self.timed(self.inner.claim_deliveries(now, lease_until, limit)).await
    }

    async fn finish_delivery(
        &self,
        webhook: &WebhookId,
        event_seq: i64,
        attempt: &Attempt,
        now: i64,
    ) -> Result<(), StoreError> {
        self.timed(self.inner.finish_delivery(webhook, event_seq, attempt, now)).await
    }

    async fn release_claim(&self, webhook: &WebhookId, event_seq: i64) -> Result<(), StoreError> {
        self.timed(self.inner.release_claim(webhook, event_seq)).await
    }

    async fn outbox_depth(&self) -> Result<(i64, Option<i64>), StoreError> {
        self.timed(self.inner.outbox_depth()).await
    }
}

#[async_trait]
impl KeyringStore for Timed {
    async fn signing_keys(&self) -> Result<Vec<SigningKeyRecord>, StoreError> {
        self.timed(self.inner.signing_keys()).await
    }

    async fn insert_signing_key_if_none_active(&self, key: &SigningKeyRecord) -> Result<bool, StoreError> {
        self.timed(self.inner.insert_signing_key_if_none_active(key)).await
    }

    async fn schedule_signing_key(&self, key: &SigningKeyRecord) -> Result<bool, StoreError> {
        self.timed(self.inner.schedule_signing_key(key)).await
    }

    async fn promote_signing_key(&self, alg: Algorithm, now: i64) -> Result<bool, StoreError> {
        self.timed(self.inner.promote_signing_key(alg, now)).await
    }

    async fn rotate_signing_key(&self, key: &SigningKeyRecord, at: i64) -> Result<(), StoreError> {
        self.timed(self.inner.rotate_signing_key(key, at)).await
    }
}

#[async_trait]
impl IssuanceStore for Timed {
    async fn record_tokens_issued(&self, batch: &[IssuedToken]) -> Result<Vec<Option<String>>, StoreError> {
        self.timed(self.inner.record_tokens_issued(batch)).await
    }

    async fn find_issued_token(&self, jti: &TokenId) -> Result<Option<IssuedToken>, StoreError> {
        self.timed(self.inner.find_issued_token(jti)).await
    }

    async fn revoke_token(&self, client: &ClientId, jti: &TokenId, change: &Change) -> Result<bool, StoreError> {
        self.timed(self.inner.revoke_token(client, jti, change)).await
    }
}

#[async_trait]
impl IdempotencyStore for Timed {
    async fn idempotency_begin(
        &self,
        client: &ClientId,
        key: &str,
        fingerprint: &str,
        now: i64,
        lease_secs: i64,
        ttl_secs: i64,
    ) -> Result<IdempotencyState, StoreError> {
        self.timed(self.inner.idempotency_begin(client, key, fingerprint, now, lease_secs, ttl_secs)).await
    }

    async fn idempotency_finish(
        &self,
        client: &ClientId,
        key: &str,
        status: u16,
        body: &str,
    ) -> Result<(), StoreError> {
        self.timed(self.inner.idempotency_finish(client, key, status, body)).await
    }

    async fn idempotency_release(&self, client: &ClientId, key: &str) -> Result<(), StoreError> {
        self.timed(self.inner.idempotency_release(client, key)).await
    }

    async fn purge_idempotency(&self, before: i64) -> Result<u64, StoreError> {
        self.timed(self.inner.purge_idempotency(before)).await
    }
}

#[async_trait]
impl EventStore for Timed {
    async fn list_events(
        &self,
        client: &ClientId,
        connection: &ConnectionId,
        before: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Event>, StoreError> {
        self.timed(self.inner.list_events(client, connection, before, limit)).await
    }
}

#[async_trait]
impl PurchaseStore for Timed {
    async fn upsert_purchases(
        &self,
        connection: &Connection,
        batch: &[Purchase],
        at: i64,
    ) -> Result<Vec<bool>, StoreError> {
        self.timed(self.inner.upsert_purchases(connection, batch, at)).await
    }

    async fn list_purchases(
        &self,
        client: &ClientId,
        connection: &ConnectionId,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Option<Vec<PurchaseSummary>>, StoreError> {
        self.timed(self.inner.list_purchases(client, connection, after, limit)).await
    }

    async fn find_purchase(
        &self,
        client: &ClientId,
        connection: &ConnectionId,
        purchase_id: &str,
    ) -> Result<Option<Purchase>, StoreError> {
        self.timed(self.inner.find_purchase(client, connection, purchase_id)).await
    }
}

#[async_trait]
impl RetailerStore for Timed {
    async fn list_retailers(&self) -> Result<Vec<Retailer>, StoreError> {
        self.timed(self.inner.list_retailers()).await
    }

    async fn find_retailer(&self, id: &str) -> Result<Option<Retailer>, StoreError> {
        self.timed(self.inner.find_retailer(id)).await
    }

    async fn put_retailer(&self, retailer: &Retailer) -> Result<bool, StoreError> {
        self.timed(self.inner.put_retailer(retailer)).await
    }

    async fn remove_retailer(&self, id: &str) -> Result<bool, StoreError> {
        self.timed(self.inner.remove_retailer(id)).await
    }
}

#[async_trait]
impl ConsoleStore for Timed {
    async fn create_operator(&self, operator: &Operator) -> Result<(), StoreError> {
        self.timed(self.inner.create_operator(operator)).await
    }

    async fn find_operator_by_name(&self, name: &str) -> Result<Option<Operator>, StoreError> {
        self.timed(self.inner.find_operator_by_name(name)).await
    }

    async fn list_operators(&self) -> Result<Vec<Operator>, StoreError> {
        self.timed(self.inner.list_operators()).await
    }

    async fn remove_operator(&self, name: &str) -> Result<bool, StoreError> {
        self.timed(self.inner.remove_operator(name)).await
    }

    async fn set_sign_in_link(&self, id: &OperatorId, digest: &[u8], expires_at: i64) -> Result<(), StoreError> {
        self.timed(self.inner.set_sign_in_link(id, digest, expires_at)).await
    }

    async fn redeem_sign_in_link(&self, digest: &[u8], now: i64) -> Result<Option<Operator>, StoreError> {
        self.timed(self.inner.redeem_sign_in_link(digest, now)).await
    }

    async fn create_session(&self, digest: &[u8], operator: &OperatorId, now: i64) -> Result<(), StoreError> {
        self.timed(self.inner.create_session(digest, operator, now)).await
    }

    async fn touch_session(
        &self,
        digest: &[u8],
        now: i64,
        idle_since: i64,
        born_after: i64,
    ) -> Result<Option<Session>, StoreError> {
        self.timed(self.inner.touch_session(digest, now, idle_since, born_after)).await
    }

    async fn delete_session(&self, digest: &[u8]) -> Result<(), StoreError> {
        self.timed(self.inner.delete_session(digest)).await
    }

    async fn record_audit(&self, entry: &AuditEntry) -> Result<(), StoreError> {
        self.timed(self.inner.record_audit(entry)).await
    }

    async fn list_audit(&self, before: Option<&str>, limit: u32) -> Result<Vec<AuditEntry>, StoreError> {
        self.timed(self.inner.list_audit(before, limit)).await
    }

    async fn search_connections(
        &self,
        search: &ConnectionSearch,
        before: Option<&ConnectionId>,
        limit: u32,
    ) -> Result<Vec<Connection>, StoreError> {
        self.timed(self.inner.search_connections(search, before, limit)).await
    }

    async fn counts(&self) -> Result<Counts, StoreError> {
        self.timed(self.inner.counts()).await
    }

    async fn tokens_by_minute(&self, from_jti: &str) -> Result<Vec<(i64, i64)>, StoreError> {
        self.timed(self.inner.tokens_by_minute(from_jti)).await
    }

    async fn note_api_key_used(&self, id: &ApiKeyId, at: i64) -> Result<(), StoreError> {
        self.timed(self.inner.note_api_key_used(id, at)).await
    }

    async fn api_keys_last_used(&self, client: &ClientId) -> Result<Vec<(ApiKeyId, Option<i64>)>, StoreError> {
        self.timed(self.inner.api_keys_last_used(client)).await
    }

    async fn live_tokens(
        &self,
        connection: &ConnectionId,
        now: i64,
        limit: u32,
    ) -> Result<Vec<IssuedToken>, StoreError> {
        self.timed(self.inner.live_tokens(connection, now, limit)).await
    }
}

#[async_trait]
impl RetentionStore for Timed {
    async fn prune(&self, rule: &'static retention::Rule, cutoff: i64, limit: u32) -> Result<u64, StoreError> {
        self.timed(self.inner.prune(rule, cutoff, limit)).await
    }

    async fn oldest_row(&self, rule: &'static retention::Rule) -> Result<Option<i64>, StoreError> {
        self.timed(self.inner.oldest_row(rule)).await
    }

    async fn retention_overview(&self) -> Result<Vec<retention::TableRetention>, StoreError> {
        self.timed(self.inner.retention_overview()).await
    }

    /// Not limited, like migrations: a PostgreSQL `VACUUM` of a large table may take a while,
    /// and neither it nor SQLite's incremental vacuum holds up a request for longer than one
    /// step.
    async fn reclaim_space(&self, pages: u32) -> Result<u64, StoreError> {
        self.inner.reclaim_space(pages).await
    }
}
