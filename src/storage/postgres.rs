//! The shared backend: PostgreSQL, for several replicas behind a load balancer. Every
//! statement runs under a statement timeout, so a database that stops answering turns into
//! a `503` instead of a hung request.
use std::str::FromStr as _;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Postgres, Transaction};

use super::{DbOptions, cause};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// A [`Store`] on a PostgreSQL database.
pub(crate) struct PostgresStore {
    pool: PgPool,
    /// How to connect, for a first connection made outside the pool: the pool reports only
    /// that it timed out, where an operator needs the cause ("connection refused").
    connect_options: PgConnectOptions,
    timeout: std::time::Duration,
}

impl PostgresStore {
    pub(crate) async fn connect(url: &str, options: &DbOptions) -> Result<Self, StoreError> {
        let timeout_ms = options.timeout.as_millis().to_string();
        let opts = PgConnectOptions::from_str(url)
            .map_err(|e| StoreError::Setup(format!("invalid PostgreSQL URL: {e}")))?
            // Notices (such as `relation "_sqlx_migrations" already exists, skipping` on every
            // start) are not news: only warnings and worse reach the log.
            .options([
                ("statement_timeout", timeout_ms.as_str()),
                ("lock_timeout", timeout_ms.as_str()),
                ("client_min_messages", "warning"),
            ]);
        // Connections are made on demand, so a server can start while the database is down
        // and become ready when it returns.
        let pool = PgPoolOptions::new()
            .max_connections(options.pool_size)
            .acquire_timeout(options.timeout)
            .before_acquire(|conn, _| Box::pin(async move { Ok(super::reusable(conn)) }))
            .connect_lazy_with(opts.clone());
        Ok(Self { pool, connect_options: opts, timeout: options.timeout })
    }
}

impl super::sql::SqlBackend for PostgresStore {
    type Db = Postgres;
    /// Locks a row against the issuance statement's `FOR KEY SHARE` until the transaction ends.
    const FOR_UPDATE: &'static str = " FOR UPDATE";
    /// Replicas claiming deliveries at once each take different rows.
    const SKIP_LOCKED: &'static str = " FOR UPDATE OF d SKIP LOCKED";
    const PRUNE_BATCH_BY: super::sql::retention::BatchBy = super::sql::retention::BatchBy::CtidSkipLocked;

    fn pool(&self) -> &PgPool {
        &self.pool
    }

    fn map_err(e: sqlx::Error) -> StoreError {
        postgres_error(e)
    }

    /// A transaction; for a critical section, it first takes a transaction-scoped advisory
    /// lock, so concurrent replicas queue instead of racing.
    async fn begin_write(&self, lock: WriteLock) -> Result<Transaction<'static, Postgres>, StoreError> {
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        if lock != WriteLock::None {
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(lock.key())
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
        }
        Ok(tx)
    }

    /// The issuance statement, run on its own: one round trip, committed as it completes.
    fn issuance_sql(rows: usize) -> &'static str {
        static SQL: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
        super::sql::issuance_sql(&SQL, rows, true, " FOR KEY SHARE OF c, k", |insert| insert)
    }

    /// The planner's estimate, kept by autovacuum and `ANALYZE`: counting every row of a
    /// table of hundreds of millions is itself a load (-1 before the first analysis: 0).
    fn row_count_sql(table: &str) -> String {
        format!("SELECT GREATEST(reltuples, 0)::BIGINT FROM pg_class WHERE oid = '{table}'::regclass")
    }

    /// Autovacuum makes deleted rows' space reusable by new rows, which is what keeps a table's
    /// size level under steady retention. Where the server runs without it (`autovacuum =
    /// off`), tessera does its part: each retained table with more dead rows than autovacuum's
    /// own default threshold (50 plus a fifth of its live rows) is vacuumed. `VACUUM` blocks
    /// no reads or writes; it runs without the statement timeout, outside any transaction.
    /// Returns how many tables it vacuumed.
    async fn reclaim(&self, _pages: u32) -> Result<u64, StoreError> {
        let autovacuum: String =
            sqlx::query_scalar("SELECT current_setting('autovacuum')").fetch_one(&self.pool).await.map_err(map_err)?;
        if autovacuum != "off" {
            return Ok(0);
        }
        let tables: Vec<String> = crate::storage::retention::RULES.iter().map(|r| r.table.to_owned()).collect();
        let due: Vec<String> = sqlx::query_scalar(
            "SELECT relname::text FROM pg_stat_user_tables
             WHERE relname = ANY($1) AND n_dead_tup > 50 + 0.2 * n_live_tup",
        )
        .bind(&tables)
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?;
        if due.is_empty() {
            return Ok(0);
        }
        let mut conn = self.pool.acquire().await.map_err(map_err)?;
        sqlx::query("SET statement_timeout = 0").execute(&mut *conn).await.map_err(map_err)?;
        let mut vacuumed = 0;
        let mut result = Ok(());
        for table in &due {
            // Only names from the rules reach the statement.
            if let Some(rule) = crate::storage::retention::Rule::of(table) {
                let vacuum = format!("VACUUM {}", rule.table);
                match sqlx::query(&vacuum).persistent(false).execute(&mut *conn).await {
                    Ok(_) => vacuumed += 1,
                    Err(e) => {
                        result = Err(map_err(e));
                        break;
                    }
                }
            }
        }
        sqlx::query("RESET statement_timeout").execute(&mut *conn).await.map_err(map_err)?;
        result.map(|()| vacuumed)
    }

    async fn issue<'q>(
        &self,
        query: sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments>,
    ) -> Result<Vec<sqlx::postgres::PgRow>, StoreError> {
        query.fetch_all(&self.pool).await.map_err(map_err)
    }
}

fn postgres_error(e: sqlx::Error) -> StoreError {
    let unavailable = match &e {
        sqlx::Error::RowNotFound => return StoreError::NotFound,
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) if db.is_unique_violation() => return StoreError::Conflict(cause(e)),
        sqlx::Error::Database(db) => {
            let code = db.code().unwrap_or_default();
            // A NUL character (or one the encoding lacks) in a bound string.
            if matches!(code.as_ref(), "22021" | "22P05") {
                return StoreError::InvalidText;
            }
            // disk_full: the server could not extend a file.
            if code == "53100" {
                return StoreError::DiskFull(cause(e));
            }
            // Connection failures, shutdowns, statement/lock timeouts, too many connections,
            // serialization failures and deadlocks: all worth a retry.
            code.starts_with("08")
                || code.starts_with("57P")
                || matches!(code.as_ref(), "57014" | "55P03" | "53300" | "40001" | "40P01")
        }
        _ => false,
    };
    if unavailable { StoreError::Unavailable(cause(e)) } else { StoreError::Database(cause(e)) }
}

super::sql::sql_store!(PostgresStore, {
    /// Several batches are in flight at once on PostgreSQL, each on a pooled connection.
    fn issuance_connection(&self) -> Result<Option<Box<dyn super::IssuanceConnection>>, StoreError> {
        Ok(None)
    }

    async fn migrate(&self) -> Result<Vec<String>, StoreError> {
        // One connection of our own first, so that a database that cannot be reached says why.
        use sqlx::Connection as _;
        match tokio::time::timeout(self.timeout, sqlx::PgConnection::connect_with(&self.connect_options)).await {
            Ok(Ok(conn)) => {
                let _ = conn.close().await;
            }
            Ok(Err(e)) => return Err(map_err(e)),
            Err(_) => {
                return Err(StoreError::Unavailable(super::cause_msg(format!(
                    "no answer from the database within {} s",
                    self.timeout.as_secs_f64()
                ))));
            }
        }
        // sqlx holds an advisory lock while migrating, so replicas starting together apply
        // each migration once.
        apply_migrations(self, &MIGRATOR).await
    }

    /// The server's clock now (not the transaction's start).
    async fn clock_reference(&self) -> Result<super::ClockReference, StoreError> {
        let now_ms: i64 = sqlx::query_scalar("SELECT (EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::bigint")
            .fetch_one(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(super::ClockReference::Server { now_ms })
    }

    /// A transaction id is assigned and committed: a commit record in the log. A server out
    /// of room for its log or its files says so (`53100`), or stops answering.
    async fn writable(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT txid_current()").execute(&self.pool).await.map_err(map_err)?;
        Ok(())
    }

    async fn is_initialized(&self) -> Result<bool, StoreError> {
        let found: Option<String> = sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations')::text")
            .fetch_one(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(found.is_some())
    }
});
