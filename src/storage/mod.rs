//! Persistence: the [`Store`] trait of domain verbs, its error type, and choosing a backend
//! from a database URL. Each backend maps its own error codes into [`StoreError`].
use std::sync::Arc;

use async_trait::async_trait;

use crate::domain::api_key::ApiKeyRecord;
use crate::domain::client::Client;
use crate::domain::connection::{Connection, ConnectionPatch, ConnectionStatus};
use crate::domain::connector::ConnectorCredential;
use crate::domain::event::Event;
use crate::domain::ids::{ApiKeyId, ClientId, ConnectionId, ConnectorId, EventId, OperatorId, TokenId, WebhookId};
use crate::domain::operator::{AuditEntry, ConnectionSearch, Counts, Operator, Session};
use crate::domain::purchase::{Purchase, PurchaseSummary};
use crate::domain::retailer::Retailer;
use crate::domain::signing_key::{Algorithm, SigningKeyRecord};
use crate::domain::token::IssuedToken;
use crate::domain::webhook::{Attempt, ClaimedDelivery, Delivery, Webhook, WebhookPatch};

pub mod postgres;
pub mod retention;
mod sql;
pub mod sqlite;
mod timed;

/// Below this much free space on the file system of a SQLite database, its disk counts as
/// full: a commit appends whole pages to the log, and a checkpoint may grow the file.
pub const MIN_FREE_BYTES: u64 = 1 << 20;

/// Whether a pooled connection may be handed out again: never one still inside a transaction.
/// A statement or commit that failed (a full disk, a timeout) can leave one so: SQLite may
/// have rolled the transaction back itself, so that the driver's own `ROLLBACK` fails and it
/// still counts the transaction as open, and every later `BEGIN` on that connection would be
/// refused. Such a connection is closed, and the pool opens a fresh one in its place.
pub(crate) fn reusable<C: sqlx::Connection>(conn: &C) -> bool {
    if conn.is_in_transaction() {
        tracing::warn!("a pooled database connection was left inside a transaction: closing it");
        return false;
    }
    true
}

/// The error underneath a [`StoreError`], kept whole so that the one log line that reports
/// it has the chain. Shared, because one failed batch answers many requests.
pub type Cause = Arc<dyn std::error::Error + Send + Sync>;

/// Wraps any error as a [`Cause`].
pub fn cause(e: impl std::error::Error + Send + Sync + 'static) -> Cause {
    Arc::new(e)
}

/// A [`Cause`] that is only a message.
pub fn cause_msg(message: impl Into<String>) -> Cause {
    Arc::new(std::io::Error::other(message.into()))
}

/// What can go wrong in storage, in terms callers can act on.
#[derive(Clone, Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// A uniqueness rule refused the write.
    #[error("conflict")]
    Conflict(#[source] Cause),
    /// A value the database cannot store or compare (PostgreSQL text holds no NUL).
    #[error("text with a NUL character")]
    InvalidText,
    /// The database cannot be reached or timed out; the request may be retried.
    #[error("database unavailable")]
    Unavailable(#[source] Cause),
    /// The database's disk (or a quota) has no room for the write; nothing was written, and
    /// the request may be retried once space is freed.
    #[error("the database's disk is full")]
    DiskFull(#[source] Cause),
    /// The database refused a statement.
    #[error("database error")]
    Database(#[source] Cause),
    /// A database or setting tessera cannot use, said for the operator.
    #[error("{0}")]
    Setup(String),
    /// Stored data tessera cannot read.
    #[error("stored data is unreadable")]
    Corrupt(#[source] Cause),
}

/// Where an idempotency key stands for a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IdempotencyState {
    /// This request holds the key now and must answer, then finish or release it.
    Claimed,
    /// Another request with the key is still running.
    InProgress,
    /// The key was used by an identical request, which was answered thus.
    Done { status: u16, body: String },
    /// The key was used by a different request.
    Mismatch,
}

/// When a change happens and who made it (a client's API key, or the connector);
/// recorded in the activity log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    pub at: i64,
    pub actor: Option<ApiKeyId>,
    pub connector: Option<ConnectorId>,
}

impl Change {
    pub fn at(at: i64) -> Self {
        Self { at, actor: None, connector: None }
    }

    pub fn by(at: i64, actor: &ApiKeyId) -> Self {
        Self { at, actor: Some(actor.clone()), connector: None }
    }

    pub fn by_connector(at: i64, connector: &ConnectorId) -> Self {
        Self { at, actor: None, connector: Some(connector.clone()) }
    }
}

/// What reporting a status did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StatusChange {
    /// No such connection.
    NotFound,
    /// The connection was in that status already: nothing changed, nothing was announced.
    Unchanged(Connection),
    /// The connection moved, with its activity event and webhook events.
    Moved { from: ConnectionStatus, connection: Connection },
    /// The lifecycle does not allow the move.
    Refused { from: ConnectionStatus, to: ConnectionStatus },
}

/// What a database knows of the time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClockReference {
    /// A database server's own clock (PostgreSQL), in milliseconds since the Unix epoch.
    Server { now_ms: i64 },
    /// The newest time recorded (SQLite): the last token's `issued_at` or the newest signing
    /// key's `created_at`, in seconds; `None` when nothing is recorded yet.
    Newest { at: Option<i64> },
}

/// A connection pool's state, for metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// Connections open now.
    pub size: u32,
    /// Of those, idle.
    pub idle: u32,
    /// The most the pool may open.
    pub max: u32,
}

/// Everything tessera keeps, as domain verbs, one trait per aggregate; each backend
/// implements every one (see `sql/`), so a new aggregate is a new trait and a new file.
pub trait Store:
    Database
    + ClientStore
    + ApiKeyStore
    + ConnectionStore
    + KeyringStore
    + IssuanceStore
    + IdempotencyStore
    + EventStore
    + ConnectorStore
    + WebhookStore
    + PurchaseStore
    + RetailerStore
    + ConsoleStore
    + RetentionStore
{
}

impl<T> Store for T where
    T: Database
        + ClientStore
        + ApiKeyStore
        + ConnectionStore
        + KeyringStore
        + IssuanceStore
        + IdempotencyStore
        + EventStore
        + ConnectorStore
        + WebhookStore
        + PurchaseStore
        + RetailerStore
        + ConsoleStore
        + RetentionStore
{
}

/// The database itself: its schema, whether it answers, its pool.
#[async_trait]
pub trait Database: Send + Sync + 'static {
    /// Applies pending migrations; returns those it applied (`"0007 connectors"`), oldest first.
    async fn migrate(&self) -> Result<Vec<String>, StoreError>;
    /// Whether tessera's migrations were ever applied to this database.
    async fn is_initialized(&self) -> Result<bool, StoreError>;
    /// Succeeds when the database answers.
    async fn ping(&self) -> Result<(), StoreError>;
    /// What the database knows of the time now, for the clock guard (which judges the clock).
    async fn clock_reference(&self) -> Result<ClockReference, StoreError>;
    /// Succeeds when a write would find room now; [`StoreError::DiskFull`] when the database's
    /// disk is full (SQLite: less than [`MIN_FREE_BYTES`] free on the file system of its
    /// file; PostgreSQL: a one-row write is refused for room). Readiness asks this.
    async fn writable(&self) -> Result<(), StoreError>;
    /// The connection pool's state now.
    fn pool_stats(&self) -> PoolStats;
    /// A connection of its own for the issuance writer's thread, where recording tokens
    /// from a plain thread is the cheaper path (a SQLite file: no hand-off between the
    /// writer and a connection's worker thread for every batch); `None` where issuance goes
    /// through [`IssuanceStore::record_tokens_issued`].
    fn issuance_connection(&self) -> Result<Option<Box<dyn IssuanceConnection>>, StoreError>;
    /// The longest any call may take before it ends as `Unavailable`, where one is set.
    fn call_limit(&self) -> Option<std::time::Duration>;
}

/// The outcome of recording one token: its connection's customer id, or `None` when the
/// store refused it (see [`IssuanceStore::record_tokens_issued`]).
pub type Recorded = Result<Option<String>, StoreError>;

/// Records issued tokens from a thread of its own (see [`Database::issuance_connection`]).
pub trait IssuanceConnection: Send {
    /// Records `batch` in one durable transaction, each token decided and written by a
    /// statement of its own: a token whose statement fails fails alone. `Err` when the
    /// transaction itself failed, and then nothing of the batch is recorded.
    fn record(&mut self, batch: &[IssuedToken]) -> Result<Vec<Recorded>, StoreError>;
    /// Upkeep the connection does between batches, once the last batch is answered.
    fn maintain(&mut self);
}

/// Clients: the tenants.
#[async_trait]
pub trait ClientStore: Send + Sync {
    async fn create_client(&self, client: &Client) -> Result<(), StoreError>;
    async fn find_client(&self, id: &ClientId) -> Result<Option<Client>, StoreError>;
    /// Every client, oldest first.
    async fn list_clients(&self) -> Result<Vec<Client>, StoreError>;
    /// Creates `client` with `key` only when the database has no client at all. Race-safe:
    /// of several callers at once, exactly one creates. Returns whether this call created.
    async fn bootstrap_client(&self, client: &Client, key: &ApiKeyRecord) -> Result<bool, StoreError>;
}

/// API keys, stored as digests.
#[async_trait]
pub trait ApiKeyStore: Send + Sync {
    async fn create_api_key(&self, key: &ApiKeyRecord) -> Result<(), StoreError>;
    async fn find_api_key(&self, id: &ApiKeyId) -> Result<Option<ApiKeyRecord>, StoreError>;
    async fn list_api_keys(&self, client: &ClientId) -> Result<Vec<ApiKeyRecord>, StoreError>;
    /// Marks a key revoked (idempotent: an already revoked key keeps its first time).
    /// `NotFound` when no such key exists.
    async fn revoke_api_key(&self, id: &ApiKeyId, at: i64) -> Result<ApiKeyRecord, StoreError>;
}

/// Connections, each owned by one client; every change is written with its activity event.
#[async_trait]
pub trait ConnectionStore: Send + Sync {
    async fn create_connection(&self, connection: &Connection, change: &Change) -> Result<(), StoreError>;
    async fn find_connection(&self, client: &ClientId, id: &ConnectionId) -> Result<Option<Connection>, StoreError>;
    async fn list_connections(&self, client: &ClientId, customer_id: &str) -> Result<Vec<Connection>, StoreError>;
    /// Applies `patch` atomically; `None` when the connection does not exist for `client`.
    /// Disconnecting revokes every token issued for the connection, in the same transaction.
    async fn update_connection(
        &self,
        client: &ClientId,
        id: &ConnectionId,
        patch: &ConnectionPatch,
        change: &Change,
    ) -> Result<Option<Connection>, StoreError>;
    /// Deletes, revoking every token issued for it; `false` when the connection did not exist
    /// for `client`.
    async fn delete_connection(
        &self,
        client: &ClientId,
        id: &ConnectionId,
        change: &Change,
    ) -> Result<bool, StoreError>;
    /// Moves any client's connection to `to` as the lifecycle allows (the connector's verb),
    /// with its activity event, its webhook events and, into `disconnected`, the revocation
    /// of its tokens, all in one transaction.
    async fn set_connection_status(
        &self,
        id: &ConnectionId,
        to: ConnectionStatus,
        reason: Option<&str>,
        change: &Change,
    ) -> Result<StatusChange, StoreError>;
    /// Any client's connection (for the connector).
    async fn find_any_connection(&self, id: &ConnectionId) -> Result<Option<Connection>, StoreError>;
}

/// The connector's credentials.
#[async_trait]
pub trait ConnectorStore: Send + Sync {
    async fn create_connector(&self, credential: &ConnectorCredential) -> Result<(), StoreError>;
    async fn find_connector(&self, id: &ConnectorId) -> Result<Option<ConnectorCredential>, StoreError>;
    async fn list_connectors(&self) -> Result<Vec<ConnectorCredential>, StoreError>;
    /// Marks a credential revoked (idempotent). `NotFound` when there is no such credential.
    async fn revoke_connector(&self, id: &ConnectorId, at: i64) -> Result<ConnectorCredential, StoreError>;
}

/// Webhook endpoints, their outbox and its deliveries.
#[async_trait]
pub trait WebhookStore: Send + Sync {
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

/// Each connection's purchases, written by the connector.
#[async_trait]
pub trait PurchaseStore: Send + Sync {
    /// Writes a batch of `connection`'s purchases in one transaction, keyed by purchase id
    /// within the connection: a new one is inserted and announced as `purchase.created`, a
    /// known one is replaced (and announced again to no one). Returns, per purchase in
    /// order, whether it was new; `NotFound` when the connection no longer exists or is
    /// disconnected (checked in the transaction).
    async fn upsert_purchases(
        &self,
        connection: &Connection,
        batch: &[Purchase],
        at: i64,
    ) -> Result<Vec<bool>, StoreError>;
    /// A connection's purchases, newest first (by date, then purchase id, both descending):
    /// at most `limit` of those after the purchase `after`. `None` when `after` names no
    /// purchase of the connection.
    async fn list_purchases(
        &self,
        client: &ClientId,
        connection: &ConnectionId,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Option<Vec<PurchaseSummary>>, StoreError>;
    /// One purchase of a connection of `client`.
    async fn find_purchase(
        &self,
        client: &ClientId,
        connection: &ConnectionId,
        purchase_id: &str,
    ) -> Result<Option<Purchase>, StoreError>;
}

/// The retailer catalogue.
#[async_trait]
pub trait RetailerStore: Send + Sync {
    /// Every catalogued retailer, by id.
    async fn list_retailers(&self) -> Result<Vec<Retailer>, StoreError>;
    async fn find_retailer(&self, id: &str) -> Result<Option<Retailer>, StoreError>;
    /// Adds a retailer, or renames one already there; returns whether it was new.
    async fn put_retailer(&self, retailer: &Retailer) -> Result<bool, StoreError>;
    /// Takes a retailer out of the catalogue; `false` when it was not in it.
    async fn remove_retailer(&self, id: &str) -> Result<bool, StoreError>;
}

/// The signing keyring shared by every replica.
#[async_trait]
pub trait KeyringStore: Send + Sync {
    async fn signing_keys(&self) -> Result<Vec<SigningKeyRecord>, StoreError>;
    /// Inserts `key` as the active key of its algorithm unless one is active already.
    /// Race-safe by a unique constraint. Returns whether it was inserted.
    async fn insert_signing_key_if_none_active(&self, key: &SigningKeyRecord) -> Result<bool, StoreError>;
    /// Inserts `key` (state `next`) unless a key of its algorithm is already scheduled.
    /// Returns whether it was inserted.
    async fn schedule_signing_key(&self, key: &SigningKeyRecord) -> Result<bool, StoreError>;
    /// When the scheduled key of `alg` is due (`activated_at <= now`), retires the active key
    /// and activates it, in one transaction. Returns whether a key was promoted.
    async fn promote_signing_key(&self, alg: Algorithm, now: i64) -> Result<bool, StoreError>;
    /// Retires the active key of `key.alg` and makes `key` active, in one transaction.
    async fn rotate_signing_key(&self, key: &SigningKeyRecord, at: i64) -> Result<(), StoreError>;
}

/// The durable record of every minted token, and revocation.
#[async_trait]
pub trait IssuanceStore: Send + Sync {
    /// Durably records a batch of minted tokens in one transaction (the activity log shows
    /// each as a `token_issued` event). A token is recorded only when, inside that transaction, its
    /// connection belongs to its client and is not disconnected, and its API key belongs to
    /// its client and is not revoked. Returns, per token in order, its connection's customer
    /// id when it was recorded and `None` when it was refused.
    async fn record_tokens_issued(&self, batch: &[IssuedToken]) -> Result<Vec<Option<String>>, StoreError>;
    async fn find_issued_token(&self, jti: &TokenId) -> Result<Option<IssuedToken>, StoreError>;
    /// Revokes one of `client`'s tokens (idempotent: the first revocation time stays).
    /// Returns whether such a token exists.
    async fn revoke_token(&self, client: &ClientId, jti: &TokenId, change: &Change) -> Result<bool, StoreError>;
}

/// Idempotency keys and the (sealed) answers they replay.
#[async_trait]
pub trait IdempotencyStore: Send + Sync {
    /// Claims an idempotency key for a request with `fingerprint`. A key is kept for
    /// `ttl_secs`; an unfinished claim older than `lease_secs` is taken to be abandoned.
    async fn idempotency_begin(
        &self,
        client: &ClientId,
        key: &str,
        fingerprint: &str,
        now: i64,
        lease_secs: i64,
        ttl_secs: i64,
    ) -> Result<IdempotencyState, StoreError>;
    /// Stores the answer to a claimed key.
    async fn idempotency_finish(&self, client: &ClientId, key: &str, status: u16, body: &str)
    -> Result<(), StoreError>;
    /// Gives a claimed key up (the request failed), so that a retry runs afresh.
    async fn idempotency_release(&self, client: &ClientId, key: &str) -> Result<(), StoreError>;
    /// Deletes every idempotency key created at or before `before` (their answers are no
    /// longer replayed). Returns how many were deleted.
    async fn purge_idempotency(&self, before: i64) -> Result<u64, StoreError>;
}

/// Removing rows past their retention window (see [`retention::RULES`]).
#[async_trait]
pub trait RetentionStore: Send + Sync {
    /// Deletes at most `limit` of `rule`'s rows aged at or before `cutoff`, in one short
    /// transaction; rows another replica is deleting at the same time are skipped. Returns
    /// how many went.
    async fn prune(&self, rule: &'static retention::Rule, cutoff: i64, limit: u32) -> Result<u64, StoreError>;
    /// The age column of `rule`'s oldest row in scope (seconds since the epoch).
    async fn oldest_row(&self, rule: &'static retention::Rule) -> Result<Option<i64>, StoreError>;
    /// Every retained table: its rows and its oldest row, for operators.
    async fn retention_overview(&self) -> Result<Vec<retention::TableRetention>, StoreError>;
    /// Gives up to `pages` free pages back to the file system (SQLite's incremental vacuum;
    /// PostgreSQL's autovacuum makes the space of deleted rows reusable on its own: 0).
    async fn reclaim_space(&self, pages: u32) -> Result<u64, StoreError>;
}

/// Each connection's activity log.
#[async_trait]
pub trait EventStore: Send + Sync {
    /// A connection's activity, newest first: at most `limit` events older than `before`.
    async fn list_events(
        &self,
        client: &ClientId,
        connection: &ConnectionId,
        before: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Event>, StoreError>;
}

/// The operator console: operators, their sessions, the record of their actions, and the
/// reads across every client that only the console makes.
#[async_trait]
pub trait ConsoleStore: Send + Sync {
    /// `Conflict` when an operator has that name already.
    async fn create_operator(&self, operator: &Operator) -> Result<(), StoreError>;
    async fn find_operator_by_name(&self, name: &str) -> Result<Option<Operator>, StoreError>;
    /// Every operator, oldest first.
    async fn list_operators(&self) -> Result<Vec<Operator>, StoreError>;
    /// Deletes an operator and every session of theirs; `false` when there was none.
    async fn remove_operator(&self, name: &str) -> Result<bool, StoreError>;
    /// Sets an operator's one-time sign-in link (the digest of its secret), replacing any other.
    async fn set_sign_in_link(&self, id: &OperatorId, digest: &[u8], expires_at: i64) -> Result<(), StoreError>;
    /// Uses up a sign-in link: the operator whose unexpired link has this digest, whose link is
    /// then gone; `None` when there is no such link. Of two uses at once, one gets it.
    async fn redeem_sign_in_link(&self, digest: &[u8], now: i64) -> Result<Option<Operator>, StoreError>;
    async fn create_session(&self, digest: &[u8], operator: &OperatorId, now: i64) -> Result<(), StoreError>;
    /// The live session with this digest, its last use set to `now`: `None` (and the session
    /// deleted) when it is unknown, idle since `idle_since` or older than `born_after`.
    async fn touch_session(
        &self,
        digest: &[u8],
        now: i64,
        idle_since: i64,
        born_after: i64,
    ) -> Result<Option<Session>, StoreError>;
    async fn delete_session(&self, digest: &[u8]) -> Result<(), StoreError>;
    async fn record_audit(&self, entry: &AuditEntry) -> Result<(), StoreError>;
    /// Console actions, newest first: at most `limit` older than `before`.
    async fn list_audit(&self, before: Option<&str>, limit: u32) -> Result<Vec<AuditEntry>, StoreError>;
    /// Every client's connections matching `search`, newest first: at most `limit` with ids
    /// below `before` (keyset paging).
    async fn search_connections(
        &self,
        search: &ConnectionSearch,
        before: Option<&ConnectionId>,
        limit: u32,
    ) -> Result<Vec<Connection>, StoreError>;
    async fn counts(&self) -> Result<Counts, StoreError>;
    /// Tokens recorded with a jti at or above `from_jti` (the ids of tokens minted since a
    /// time), by minute (`issued_at / 60`) and count.
    async fn tokens_by_minute(&self, from_jti: &str) -> Result<Vec<(i64, i64)>, StoreError>;
    /// Notes that an API key was used at `at` (a later time than the one stored only).
    async fn note_api_key_used(&self, id: &ApiKeyId, at: i64) -> Result<(), StoreError>;
    /// When each of a client's API keys was last used, by key id.
    async fn api_keys_last_used(&self, client: &ClientId) -> Result<Vec<(ApiKeyId, Option<i64>)>, StoreError>;
    /// A connection's live tokens (not revoked, expiring after `now`), newest first.
    async fn live_tokens(
        &self,
        connection: &ConnectionId,
        now: i64,
        limit: u32,
    ) -> Result<Vec<IssuedToken>, StoreError>;
}

/// Pool and timeout settings that apply to every backend.
#[derive(Clone, Debug)]
pub struct DbOptions {
    /// Most connections held open.
    pub pool_size: u32,
    /// Longest wait for a connection, a lock or one statement.
    pub timeout: std::time::Duration,
    /// Whether a missing database may be created and migrated. Only `serve` and `migrate`
    /// create one: an administrative command pointed at a mistyped URL must fail, not act
    /// on a new empty database.
    pub create: bool,
}

impl Default for DbOptions {
    fn default() -> Self {
        Self { pool_size: 8, timeout: std::time::Duration::from_secs(5), create: true }
    }
}

/// Opens the store a database URL names (creating it if missing), and migrates it.
pub async fn connect(url: &str) -> Result<Arc<dyn Store>, StoreError> {
    connect_with(url, &DbOptions::default()).await
}

/// [`connect`] with explicit pool and timeout settings.
pub async fn connect_with(url: &str, options: &DbOptions) -> Result<Arc<dyn Store>, StoreError> {
    Ok(connect_and_migrate(url, options).await?.0)
}

/// [`connect_with`], also returning the migrations this call applied (`"0007 connectors"`).
pub async fn connect_and_migrate(url: &str, options: &DbOptions) -> Result<(Arc<dyn Store>, Vec<String>), StoreError> {
    let store: Arc<dyn Store> = match Backend::of(url)? {
        Backend::Sqlite => Arc::new(sqlite::SqliteStore::connect(url, options).await?),
        Backend::Postgres => Arc::new(postgres::PostgresStore::connect(url, options).await?),
    };
    if !options.create && !store.is_initialized().await? {
        return Err(StoreError::Setup(
            "the database holds no tessera data: check the database URL, or run `tessera migrate` (or `tessera \
             serve`) on it first"
                .into(),
        ));
    }
    let applied = store.migrate().await?;
    Ok((Arc::new(timed::Timed::new(store, options.timeout)), applied))
}

/// The migrations of `migrator` whose versions are not in `before`, as `"0007 description"`.
pub(crate) fn newly_applied(migrator: &sqlx::migrate::Migrator, before: &[i64]) -> Vec<String> {
    migrator
        .iter()
        .filter(|m| m.migration_type.is_up_migration() && !before.contains(&m.version))
        .map(|m| format!("{:04} {}", m.version, m.description))
        .collect()
}

/// Explains a failed migration; in particular a database migrated by a newer tessera.
pub(crate) fn migrate_error(e: sqlx::migrate::MigrateError) -> StoreError {
    use sqlx::migrate::MigrateError;
    let unavailable = match &e {
        MigrateError::VersionMissing(v) => {
            return StoreError::Setup(format!(
                "the database schema has migration {v}, which this tessera does not know: it was \
                 migrated by a newer tessera; run that version (or newer) instead"
            ));
        }
        MigrateError::Execute(sqlx::Error::Database(db)) => db.code().is_some_and(|c| c.starts_with("08")),
        MigrateError::Execute(sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut) => true,
        _ => false,
    };
    if unavailable { StoreError::Unavailable(cause(e)) } else { StoreError::Database(cause(e)) }
}

/// The storage backends, chosen by URL scheme.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn of(url: &str) -> Result<Self, StoreError> {
        let scheme = url.split_once(':').map(|(s, _)| s).unwrap_or("");
        match scheme {
            "sqlite" => Ok(Backend::Sqlite),
            "postgres" | "postgresql" => Ok(Backend::Postgres),
            _ => Err(StoreError::Setup(format!(
                "unsupported database URL scheme {scheme:?}: use sqlite://PATH or postgres://USER@HOST/DB"
            ))),
        }
    }
}

/// A database URL. `Display` and `Debug` mask its password (`***`), so it can be logged or
/// put in an error as it is; [`DatabaseUrl::expose`] gives the whole URL, to connect with.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    pub fn new(url: impl Into<String>) -> Self {
        Self(url.into())
    }

    /// The URL with its password, for connecting.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The URL with any password replaced by `***`.
    pub fn redacted(&self) -> String {
        match url::Url::parse(&self.0) {
            Ok(mut u) if u.password().is_some() => {
                let _ = u.set_password(Some("***"));
                u.to_string()
            }
            _ => self.0.clone(),
        }
    }
}

impl std::fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DatabaseUrl({})", self.redacted())
    }
}

impl std::str::FromStr for DatabaseUrl {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self::new(s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_masked() {
        let url = DatabaseUrl::new("postgres://app:s3cret@db:5432/tessera");
        for shown in [url.to_string(), format!("{url:?}"), format!("{url:#?}")] {
            assert!(shown.contains("postgres://app:***@db:5432/tessera") && !shown.contains("s3cret"), "{shown}");
        }
        assert_eq!(url.expose(), "postgres://app:s3cret@db:5432/tessera");
        assert_eq!(DatabaseUrl::new("sqlite://data/t.db").to_string(), "sqlite://data/t.db");
    }
}
