//! Persistence: the [`Store`] trait of domain verbs, its error type, and choosing a backend
//! from a database URL. Each backend maps its own error codes into [`StoreError`].
use std::sync::Arc;

use async_trait::async_trait;

use crate::domain::connection::{Connection, ConnectionStatus};
use crate::domain::ids::{ApiKeyId, ConnectorId};
use crate::domain::token::IssuedToken;

/// Declares one aggregate's storage trait and, from the same declaration, the [`timed::Timed`]
/// delegation of each of its methods (which puts the time limit on the call): a method is
/// written once here and once per backend, never a third time.
macro_rules! store_trait {
    ($(#[$meta:meta])* pub trait $trait:ident {
        $( $(#[$mmeta:meta])* async fn $name:ident(&self $(, $arg:ident : $ty:ty)* $(,)?) -> $ret:ty; )*
    }) => {
        $(#[$meta])*
        #[async_trait::async_trait]
        pub trait $trait: Send + Sync {
            $( $(#[$mmeta])* async fn $name(&self $(, $arg: $ty)*) -> $ret; )*
        }

        #[async_trait::async_trait]
        impl $trait for $crate::storage::timed::Timed {
            $(
                async fn $name(&self $(, $arg: $ty)*) -> $ret {
                    self.timed(self.inner().$name($($arg),*)).await
                }
            )*
        }
    };
}

mod open;
pub(crate) mod postgres;
pub mod retention;
mod sql;
pub(crate) mod sqlite;
mod timed;

pub use open::{connect, connect_and_migrate, connect_with};
pub use sql::api_keys::ApiKeyStore;
pub use sql::clients::ClientStore;
pub use sql::connections::ConnectionStore;
pub use sql::connectors::ConnectorStore;
pub use sql::console::ConsoleStore;
pub use sql::events::EventStore;
pub use sql::idempotency::IdempotencyStore;
pub use sql::issuance::IssuanceStore;
pub use sql::keyring::KeyringStore;
pub use sql::link::LinkStore;
pub use sql::partners::PartnerStore;
pub use sql::purchases::PurchaseStore;
pub use sql::retailers::RetailerStore;
pub use sql::retention::RetentionStore;
pub use sql::webhooks::WebhookStore;
pub use sql::work::{Work, WorkStore};

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

/// Declares [`Store`] as every trait named, and implements it for whatever implements them
/// all: the list is written once.
macro_rules! store {
    ($($part:ident),+ $(,)?) => {
        /// Everything tessera keeps, as domain verbs, one trait per aggregate; each backend
        /// implements every one (see `sql/`), so a new aggregate is a new trait and a new file.
        pub trait Store: $($part +)+ {}

        impl<T> Store for T where T: $($part +)+ {}
    };
}

store!(
    Database,
    ClientStore,
    ApiKeyStore,
    ConnectionStore,
    KeyringStore,
    IssuanceStore,
    IdempotencyStore,
    EventStore,
    ConnectorStore,
    WebhookStore,
    PurchaseStore,
    RetailerStore,
    ConsoleStore,
    RetentionStore,
    LinkStore,
    PartnerStore,
    WorkStore,
);

/// The database itself: its schema, whether it answers, its pool.
#[async_trait]
pub trait Database: Send + Sync + 'static {
    /// Applies pending migrations; returns those it applied (`"0007 connectors"`), oldest first.
    async fn migrate(&self) -> Result<Vec<String>, StoreError>;
    /// Whether tessera's migrations were ever applied to this database.
    async fn is_initialized(&self) -> Result<bool, StoreError>;
    /// Succeeds when the database answers.
    async fn ping(&self) -> Result<(), StoreError>;
    /// Gives up to `pages` free pages back to the file system (SQLite's incremental vacuum;
    /// PostgreSQL's autovacuum makes the space of deleted rows reusable on its own: 0). Like
    /// migrations, not time-limited: a step may take a while, and holds up no request longer.
    async fn reclaim_space(&self, pages: u32) -> Result<u64, StoreError>;
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
