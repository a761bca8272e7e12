//! The SQL both backends share. SQLite and PostgreSQL both accept this dialect (`$N`
//! placeholders, `RETURNING`, `ON CONFLICT DO NOTHING`, partial unique indexes), so each
//! verb is written once, in the file of its aggregate, as a macro that implements that
//! aggregate's trait for one backend: [`sql_store!`] invokes them all. What differs between
//! backends (connecting, error codes, how a writing transaction takes its lock, the issuance
//! statement's transaction control, migrations) is the backend's [`SqlBackend`] impl.
use std::future::Future;
use std::sync::OnceLock;

use sqlx::query::Query;

use crate::storage::StoreError;

pub(crate) mod api_keys;
pub(crate) mod clients;
pub(crate) mod connections;
pub(crate) mod connectors;
pub(crate) mod console;
pub(crate) mod events;
pub(crate) mod idempotency;
pub(crate) mod issuance;
pub(crate) mod keyring;
pub(crate) mod link;
pub(crate) mod partners;
pub(crate) mod purchases;
pub(crate) mod retailers;
pub(crate) mod retention;
pub(crate) mod webhooks;
pub(crate) mod work;

/// What a backend supplies to the shared SQL.
pub(super) trait SqlBackend: Send + Sync + 'static {
    type Db: sqlx::Database;
    /// The row lock a reading statement appends where writers are not already serialized
    /// (PostgreSQL: ` FOR UPDATE`; SQLite, whose writers take turns: nothing).
    const FOR_UPDATE: &'static str;
    /// How a claiming query skips rows another transaction holds (PostgreSQL:
    /// ` FOR UPDATE OF d SKIP LOCKED`; SQLite, one writer at a time: nothing).
    const SKIP_LOCKED: &'static str;
    /// How a retention batch names its rows.
    const PRUNE_BATCH_BY: retention::BatchBy;

    /// Reads, and writes that need no transaction of their own.
    fn pool(&self) -> &sqlx::Pool<Self::Db>;
    /// The backend's errors in tessera's terms.
    fn map_err(e: sqlx::Error) -> StoreError;
    /// A writing transaction, inside the critical section `lock` names.
    fn begin_write(
        &self,
        lock: WriteLock,
    ) -> impl Future<Output = Result<sqlx::Transaction<'static, Self::Db>, StoreError>> + Send;
    /// The issuance statement for `rows` tokens (a power of two), from [`issuance_sql`] with the
    /// backend's transaction control around it.
    fn issuance_sql(rows: usize) -> &'static str;
    /// Runs an issuance statement as one atomic, durable transaction.
    fn issue<'q>(
        &self,
        query: Query<'q, Self::Db, <Self::Db as sqlx::Database>::Arguments<'q>>,
    ) -> impl Future<Output = Result<Vec<<Self::Db as sqlx::Database>::Row>, StoreError>> + Send;
    /// A statement answering how many rows `table` holds, as a BIGINT (exact, or an estimate
    /// where counting is itself a load).
    fn row_count_sql(table: &str) -> String;
    /// Gives up to `pages` free pages back to the file system, where the backend does that
    /// on request; returns how many it gave back.
    fn reclaim(&self, pages: u32) -> impl Future<Output = Result<u64, StoreError>> + Send;
}

/// Which cross-process critical section a writing transaction enters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum WriteLock {
    /// No lock beyond the database's own row locks.
    None,
    /// Creating the first client of an empty database.
    Bootstrap,
    /// Changing which signing key is active.
    Keyring,
}

impl WriteLock {
    /// A key for advisory locks.
    pub(super) fn key(self) -> i64 {
        match self {
            WriteLock::None => 0,
            WriteLock::Bootstrap => 0x7465_7373_0001,
            WriteLock::Keyring => 0x7465_7373_0002,
        }
    }
}

pub(super) const CONNECTION_COLUMNS: &str =
    "id, client_id, customer_id, retailer_id, email, mobile, status, created_at, updated_at";
pub(super) const API_KEY_COLUMNS: &str = "id, client_id, digest, created_at, revoked_at";
pub(super) const SIGNING_KEY_COLUMNS: &str =
    "kid, alg, state, public_key, private_key_sealed, created_at, activated_at, retired_at";
pub(super) const WEBHOOK_COLUMNS: &str = "id, client_id, name, url, event_types, is_active, secret_sealed, \
     previous_secret_sealed, previous_expires_at, created_at, updated_at, last_success_at, disabled_reason";
pub(super) const ISSUED_SELECT: &str =
    "jti, connection_id, client_id, api_key_id, kid, issued_at, expires_at, revoked_at";

/// The most tokens one issuance statement records. A batch is padded to the next power of
/// two (with rows that match nothing), so the statement has ten texts in all and each stays
/// in its connection's prepared-statement cache.
pub(super) const MAX_ISSUANCE_ROWS: usize = 512;
const ISSUANCE_SIZES: usize = MAX_ISSUANCE_ROWS.trailing_zeros() as usize + 1;
/// Placeholders per token in the issuance statement.
const ISSUANCE_COLUMNS: usize = 7;

/// The statement recording `rows` (a power of two) tokens, each `(jti, connection, client,
/// key, kid, issued_at, expires_at)`. A token is inserted only when its connection is the
/// client's and not disconnected and its key is the client's and not revoked, as of the
/// statement; the customer id it returns is stored with the token and goes into its claims.
/// `wrap` puts each backend's transaction control around it.
/// `numbered` chooses `$1, $2, ...` placeholders over `?, ?, ...` (which SQLite binds in
/// constant time each, where it looks a numbered one up by name in a list).
/// `lock` is appended to the `SELECT`: where writers are not serialized (PostgreSQL), the
/// connection and key rows are locked against a concurrent disconnection or revocation,
/// which takes `FOR UPDATE` first; so a token is either recorded before the change (and
/// revoked by it) or checked after it (and refused), never recorded unrevoked after it.
pub(super) fn issuance_sql(
    cache: &'static OnceLock<Vec<String>>,
    rows: usize,
    numbered: bool,
    lock: &'static str,
    wrap: fn(String) -> String,
) -> &'static str {
    debug_assert!(rows.is_power_of_two() && rows <= MAX_ISSUANCE_ROWS);
    let build = |n: usize| {
        let placeholder = |i: usize| if numbered { format!("${i}") } else { "?".to_owned() };
        let row = |r: usize| {
            let cells: Vec<String> = (1..=ISSUANCE_COLUMNS).map(|c| placeholder(r * ISSUANCE_COLUMNS + c)).collect();
            format!("({})", cells.join(", "))
        };
        let values: Vec<String> = (0..n).map(row).collect();
        wrap(format!(
            "INSERT INTO issued_tokens (jti, connection_id, client_id, api_key_id, kid, issued_at, expires_at, customer_id)
             SELECT v.column1, v.column2, v.column3, v.column4, v.column5, v.column6, v.column7, c.customer_id
             FROM (VALUES {}) AS v
             JOIN connections c ON c.id = v.column2 AND c.client_id = v.column3
             JOIN api_keys k ON k.id = v.column4 AND k.client_id = v.column3
             WHERE c.status <> 'disconnected' AND k.revoked_at IS NULL{lock}
             RETURNING jti, customer_id",
            values.join(", ")
        ))
    };
    &cache.get_or_init(|| (0..ISSUANCE_SIZES).map(|i| build(1 << i)).collect())[rows.trailing_zeros() as usize]
}

/// Implements every aggregate's trait, and [`super::Database`]'s shared part, for one
/// backend: `sql_store!(StoreType, { backend-specific Database methods })`.
macro_rules! sql_store {
    ($store:ty, { $($specific:tt)* }) => {
        fn map_err(e: sqlx::Error) -> $crate::storage::StoreError {
            <$store as $crate::storage::sql::SqlBackend>::map_err(e)
        }

        #[async_trait::async_trait]
        impl $crate::storage::Database for $store {
            $($specific)*

            fn call_limit(&self) -> Option<std::time::Duration> {
                None
            }

            fn pool_stats(&self) -> $crate::storage::PoolStats {
                let pool = self.pool();
                $crate::storage::PoolStats {
                    size: pool.size(),
                    idle: u32::try_from(pool.num_idle()).unwrap_or(u32::MAX),
                    max: pool.options().get_max_connections(),
                }
            }

            async fn ping(&self) -> Result<(), StoreError> {
                sqlx::query("SELECT 1").execute(self.pool()).await.map_err(map_err)?;
                Ok(())
            }

            async fn reclaim_space(&self, pages: u32) -> Result<u64, StoreError> {
                <$store as $crate::storage::sql::SqlBackend>::reclaim(self, pages).await
            }
        }

        $crate::storage::sql::shared!($store);
        $crate::storage::sql::clients::clients!($store);
        $crate::storage::sql::api_keys::api_keys!($store);
        $crate::storage::sql::connections::connections!($store);
        $crate::storage::sql::keyring::keyring!($store);
        $crate::storage::sql::issuance::issuance!($store);
        $crate::storage::sql::idempotency::idempotency!($store);
        $crate::storage::sql::events::events!($store);
        $crate::storage::sql::connectors::connectors!($store);
        $crate::storage::sql::webhooks::webhooks!($store);
        $crate::storage::sql::purchases::purchases!($store);
        $crate::storage::sql::retailers::retailers!($store);
        $crate::storage::sql::console::console!($store);
        $crate::storage::sql::retention::retention!($store);
        $crate::storage::sql::link::link_store!($store);
        $crate::storage::sql::partners::partners!($store);
        $crate::storage::sql::work::work!($store);
    };
}

pub(crate) use sql_store;

/// Helpers more than one aggregate's statements use, expanded once per backend.
macro_rules! shared {
    ($store:ty) => {
        use sqlx::Row as _;
        use $crate::domain::api_key::ApiKeyRecord;
        use $crate::domain::client::Client;
        use $crate::domain::connection::{Connection, ConnectionStatus};
        use $crate::domain::connector::ConnectorCredential;
        use $crate::domain::webhook::{Attempt, ClaimedDelivery, Delivery, EventType, Webhook, WebhookEvent, WebhookPatch};
        use $crate::domain::event::Event;
        use $crate::domain::ids::{ApiKeyId, ClientId, ConnectionId, ConnectorId, EventId, TokenId, WebhookId};
        use $crate::domain::signing_key::{Algorithm, KeyState, SigningKeyRecord};
        use $crate::domain::token::IssuedToken;
        use $crate::storage::sql::{
            API_KEY_COLUMNS, CONNECTION_COLUMNS, ISSUED_SELECT, MAX_ISSUANCE_ROWS, SIGNING_KEY_COLUMNS, SqlBackend as _,
            WEBHOOK_COLUMNS, WriteLock,
        };
        use $crate::storage::{IdempotencyState, StoreError};

        type Conn = <<$store as $crate::storage::sql::SqlBackend>::Db as sqlx::Database>::Connection;
        type DbRow = <<$store as $crate::storage::sql::SqlBackend>::Db as sqlx::Database>::Row;

        async fn insert_client(conn: &mut Conn, client: &Client) -> Result<(), StoreError> {
            sqlx::query("INSERT INTO clients (id, name, created_at) VALUES ($1, $2, $3)")
                .bind(&client.id)
                .bind(&client.name)
                .bind(client.created_at)
                .execute(conn)
                .await
                .map_err(map_err)?;
            Ok(())
        }

        async fn insert_api_key(conn: &mut Conn, key: &ApiKeyRecord) -> Result<(), StoreError> {
            sqlx::query(&format!("INSERT INTO api_keys ({API_KEY_COLUMNS}) VALUES ($1, $2, $3, $4, $5)"))
                .bind(&key.id)
                .bind(&key.client_id)
                .bind(key.digest.as_bytes())
                .bind(key.created_at)
                .bind(key.revoked_at)
                .execute(conn)
                .await
                .map_err(map_err)?;
            Ok(())
        }

        /// Appends an entry to the audit log, on `conn` (a pool's or a transaction's).
        async fn insert_audit(conn: &mut Conn, entry: &$crate::domain::operator::AuditEntry) -> Result<(), StoreError> {
            sqlx::query("INSERT INTO console_audit (id, operator, action, target, at) VALUES ($1, $2, $3, $4, $5)")
                .bind(&entry.id)
                .bind(&entry.operator)
                .bind(&entry.action)
                .bind(&entry.target)
                .bind(entry.at)
                .execute(conn)
                .await
                .map_err(map_err)?;
            Ok(())
        }

        /// Writes a webhook event to the outbox with one delivery for every active webhook
        /// of its client subscribed to its type, in the caller's transaction; nothing when
        /// none is. Whether any was.
        async fn enqueue_event(conn: &mut Conn, e: &$crate::domain::webhook::OutboxEvent) -> Result<bool, StoreError> {
            let kind = e.kind;
            let listening: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM webhooks WHERE client_id = $1 AND is_active = $2 AND event_types LIKE $3",
            )
            .bind(&e.client_id)
            .bind(true)
            .bind(format!("%\"{kind}\"%"))
            .fetch_one(&mut *conn)
            .await
            .map_err(map_err)?;
            if listening == 0 {
                return Ok(false);
            }
            let seq: i64 = sqlx::query_scalar(
                "INSERT INTO webhook_events (id, client_id, connection_id, type, payload, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6) RETURNING seq",
            )
            .bind(&e.id)
            .bind(&e.client_id)
            .bind(&e.connection_id)
            .bind(kind.as_str())
            .bind(e.payload.to_string())
            .bind(e.at)
            .fetch_one(&mut *conn)
            .await
            .map_err(map_err)?;
            sqlx::query(
                "INSERT INTO webhook_deliveries
                   (webhook_id, event_seq, client_id, connection_id, attempts, next_attempt_at, created_at)
                 SELECT id, $1, client_id, $2, 0, $3, $3 FROM webhooks
                 WHERE client_id = $4 AND is_active = $5 AND event_types LIKE $6",
            )
            .bind(seq)
            .bind(&e.connection_id)
            .bind(e.at)
            .bind(&e.client_id)
            .bind(true)
            .bind(format!("%\"{kind}\"%"))
            .execute(&mut *conn)
            .await
            .map_err(map_err)?;
            Ok(true)
        }

        /// Applies `migrator`'s pending migrations; returns the ones this call applied.
        async fn apply_migrations(
            store: &$store,
            migrator: &sqlx::migrate::Migrator,
        ) -> Result<Vec<String>, StoreError> {
            use $crate::storage::Database as _;
            let before: Vec<i64> = if store.is_initialized().await? {
                sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success")
                    .fetch_all(store.pool())
                    .await
                    .map_err(map_err)?
            } else {
                Vec::new()
            };
            migrator.run(store.pool()).await.map_err($crate::storage::migrate_error)?;
            Ok($crate::storage::newly_applied(migrator, &before))
        }

        /// Revokes every live token of a connection, in the caller's transaction.
        async fn revoke_connection_tokens(
            conn: &mut Conn,
            client: &ClientId,
            id: &ConnectionId,
            at: i64,
        ) -> Result<u64, StoreError> {
            let done = sqlx::query(
                "UPDATE issued_tokens SET revoked_at = $3 WHERE connection_id = $1 AND client_id = $2 AND revoked_at IS NULL",
            )
            .bind(id)
            .bind(client)
            .bind(at)
            .execute(conn)
            .await
            .map_err(map_err)?;
            Ok(done.rows_affected())
        }
    };
}

pub(crate) use shared;
