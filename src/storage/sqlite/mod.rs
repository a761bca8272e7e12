//! The embedded backend: one SQLite file in WAL mode with `synchronous = FULL`, so a
//! committed transaction survives a process kill and a power loss.
use std::path::Path;
use std::str::FromStr as _;
use std::sync::Arc;

use sqlx::sqlite::{SqliteAutoVacuum, SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool, Transaction};

use super::{DbOptions, cause};
use checkpoint::{LogRestart, checkpoint};
use file::{lock, prepare_file};
use issuance::{ISSUANCE_LOCK, ISSUANCE_NUMBERED, SqliteIssuance};

pub(crate) mod backup;
mod checkpoint;
mod file;
mod issuance;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// A [`Store`] on one SQLite database file.
pub(crate) struct SqliteStore {
    /// Reads, and writes that need no transaction of their own.
    pool: SqlitePool,
    /// Writing transactions: SQLite admits one writer at a time, so they queue here, in
    /// order, on one connection whose page cache no other connection's writes invalidate,
    /// instead of polling SQLite's lock. The same pool as `pool` for an in-memory database.
    writer: SqlitePool,
    /// The database file; `None` for an in-memory database.
    file: Option<std::path::PathBuf>,
    /// Copies committed pages from the log into the database file in the background.
    checkpointer: Option<tokio::task::JoinHandle<()>>,
    /// The longest wait for SQLite's write lock.
    timeout: std::time::Duration,
    /// Between the checkpointer and the issuance writer (see [`checkpoint`]).
    restart: Arc<LogRestart>,
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        if let Some(task) = &self.checkpointer {
            task.abort();
        }
    }
}

impl SqliteStore {
    pub(crate) async fn connect(url: &str, options: &DbOptions) -> Result<Self, StoreError> {
        let opts = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::Setup(format!("invalid SQLite URL: {e}")))?
            .create_if_missing(options.create)
            // A new file keeps a free-page map, so that pages freed by retention can be given
            // back to the file system (`reclaim`); an older file is converted by `migrate`.
            .auto_vacuum(SqliteAutoVacuum::Incremental)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(options.timeout)
            .foreign_keys(true);
        let file = opts.get_filename().to_path_buf();
        let in_memory = file.as_os_str().is_empty() || url.contains(":memory:") || url.contains("mode=memory");
        let file = (!in_memory).then_some(file);
        // Take turns with other processes starting on the same file: the first connection of
        // a new file switches it to WAL, which needs the file to itself (see `migrate`).
        let guard = match &file {
            Some(path) => Some(prepare_file(path.clone(), options.create).await?),
            None => None,
        };
        let pool = SqlitePoolOptions::new()
            .max_connections(options.pool_size)
            .acquire_timeout(options.timeout)
            .before_acquire(|conn, _| Box::pin(async move { Ok(super::reusable(conn)) }))
            .connect_with(opts.clone())
            .await
            .map_err(map_err)?;
        drop(guard);
        let restart = Arc::new(LogRestart::default());
        let (writer, checkpointer) = match file {
            Some(_) => (
                SqlitePoolOptions::new()
                    .max_connections(1)
                    .acquire_timeout(options.timeout)
                    .before_acquire(|conn, _| Box::pin(async move { Ok(super::reusable(conn)) }))
                    .connect_lazy_with(opts.pragma("wal_autocheckpoint", "0")),
                Some(tokio::spawn(checkpoint(pool.clone(), restart.clone()))),
            ),
            None => (pool.clone(), None),
        };
        Ok(Self { pool, writer, file, checkpointer, timeout: options.timeout, restart })
    }
}

impl super::sql::SqlBackend for SqliteStore {
    type Db = Sqlite;
    /// No row locks: every writing transaction holds SQLite's one write lock.
    const FOR_UPDATE: &'static str = "";
    const SKIP_LOCKED: &'static str = "";
    const PRUNE_BATCH_BY: super::sql::retention::BatchBy = super::sql::retention::BatchBy::Key;

    fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    fn map_err(e: sqlx::Error) -> StoreError {
        sqlite_error(e)
    }

    /// A transaction that holds SQLite's write lock from its first statement (`BEGIN
    /// IMMEDIATE`): a read-then-write transaction that upgrades later can fail at once with
    /// `SQLITE_BUSY` instead of waiting. The one write lock serializes every critical section.
    async fn begin_write(&self, _lock: WriteLock) -> Result<Transaction<'static, Sqlite>, StoreError> {
        self.writer.begin_with("BEGIN IMMEDIATE").await.map_err(map_err)
    }

    fn row_count_sql(table: &str) -> String {
        format!("SELECT COUNT(*) FROM {table}")
    }

    /// Moves up to `pages` free pages to the end of the file and truncates them, on the
    /// writer connection: one short write, like any other, between issuance batches.
    async fn reclaim(&self, pages: u32) -> Result<u64, StoreError> {
        if self.file.is_none() {
            return Ok(0);
        }
        let mut conn = self.writer.acquire().await.map_err(map_err)?;
        let free = || sqlx::query_scalar::<_, i64>("PRAGMA freelist_count");
        let before = free().fetch_one(&mut *conn).await.map_err(map_err)?;
        if before == 0 {
            return Ok(0);
        }
        sqlx::query(&format!("PRAGMA incremental_vacuum({pages})")).execute(&mut *conn).await.map_err(map_err)?;
        let after = free().fetch_one(&mut *conn).await.map_err(map_err)?;
        Ok(u64::try_from(before - after).unwrap_or(0))
    }

    /// [`issuance::issuance_statement`] inside its transaction, sent as one call: the writer
    /// connection's thread runs all three statements without waiting on anyone in between.
    fn issuance_sql(rows: usize) -> &'static str {
        static SQL: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
        super::sql::issuance_sql(&SQL, rows, ISSUANCE_NUMBERED, ISSUANCE_LOCK, |insert| {
            format!("BEGIN IMMEDIATE; {insert}; COMMIT")
        })
    }

    /// Runs an issuance statement on the writer connection.
    async fn issue<'q>(
        &self,
        query: sqlx::query::Query<'q, Sqlite, sqlx::sqlite::SqliteArguments<'q>>,
    ) -> Result<Vec<sqlx::sqlite::SqliteRow>, StoreError> {
        let mut conn = self.writer.acquire().await.map_err(map_err)?;
        match query.fetch_all(&mut *conn).await {
            Ok(rows) => Ok(rows),
            Err(e) => {
                // A statement that failed left its transaction open: end it before the
                // connection goes back (an error here means there was none to end).
                let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
                Err(map_err(e))
            }
        }
    }
}

/// Makes a database file created before retention keep a free-page map, which SQLite only
/// does after rewriting the whole file once (`VACUUM`): this start takes about as long as
/// copying the file, and needs its size again in free disk space, once. A new file has the
/// map from its first table on, and finds nothing to do here.
async fn incremental_vacuum_on(writer: &SqlitePool) -> Result<(), StoreError> {
    let mut conn = writer.acquire().await.map_err(map_err)?;
    let mode: i64 = sqlx::query_scalar("PRAGMA auto_vacuum").fetch_one(&mut *conn).await.map_err(map_err)?;
    if mode == 2 {
        return Ok(());
    }
    tracing::info!("rewriting the database file once, so that retention can give free space back");
    sqlx::query("PRAGMA auto_vacuum = INCREMENTAL").execute(&mut *conn).await.map_err(map_err)?;
    sqlx::query("VACUUM").execute(&mut *conn).await.map_err(map_err)?;
    let mode: i64 = sqlx::query_scalar("PRAGMA auto_vacuum").fetch_one(&mut *conn).await.map_err(map_err)?;
    if mode != 2 {
        return Err(StoreError::Setup(format!(
            "the database file could not be switched to incremental vacuum (auto_vacuum is {mode})"
        )));
    }
    Ok(())
}

fn sqlite_error(e: sqlx::Error) -> StoreError {
    let busy = match &e {
        sqlx::Error::RowNotFound => return StoreError::NotFound,
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => true,
        sqlx::Error::Database(db) if db.is_unique_violation() => return StoreError::Conflict(cause(e)),
        // SQLITE_FULL: the disk (or a quota) has no room.
        sqlx::Error::Database(db) if db.code().as_deref() == Some("13") => return StoreError::DiskFull(cause(e)),
        // SQLITE_BUSY / SQLITE_LOCKED and their extended codes.
        sqlx::Error::Database(db) => matches!(db.code().as_deref(), Some("5" | "6" | "261" | "517")),
        _ => false,
    };
    if busy { StoreError::Unavailable(cause(e)) } else { StoreError::Database(cause(e)) }
}

super::sql::sql_store!(SqliteStore, {
    fn issuance_connection(&self) -> Result<Option<Box<dyn super::IssuanceConnection>>, StoreError> {
        match &self.file {
            Some(path) => Ok(Some(Box::new(SqliteIssuance::open(path, self.timeout, self.restart.clone())?))),
            None => Ok(None),
        }
    }

    async fn migrate(&self) -> Result<Vec<String>, StoreError> {
        // Processes starting together on a new file would each try to apply the migrations
        // and fail on SQLite's lock upgrade; an advisory lock on the lock file beside it
        // (independent of SQLite's own locks) lets one migrate while the others wait, then
        // find nothing to do.
        let _guard = match &self.file {
            Some(path) => Some(lock(path.clone()).await?),
            None => None,
        };
        let applied = apply_migrations(self, &MIGRATOR).await?;
        if self.file.is_some() {
            incremental_vacuum_on(&self.writer).await?;
        }
        Ok(applied)
    }

    /// The newest token (the table is ordered by its increasing ids) and the newest key.
    async fn clock_reference(&self) -> Result<super::ClockReference, StoreError> {
        let at: Option<i64> = sqlx::query_scalar(
            "SELECT MAX(t) FROM (SELECT (SELECT issued_at FROM issued_tokens ORDER BY jti DESC LIMIT 1) AS t \
             UNION ALL SELECT MAX(created_at) FROM signing_keys)",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(super::ClockReference::Newest { at })
    }

    /// The free space on the file system of the database file, where the log and the file
    /// grow: a failed write would say no more than that (`SQLITE_FULL`).
    async fn writable(&self) -> Result<(), StoreError> {
        let Some(dir) = self.file.as_deref().and_then(Path::parent) else {
            return Ok(());
        };
        let dir = if dir.as_os_str().is_empty() { Path::new(".") } else { dir };
        let stat = rustix::fs::statvfs(dir).map_err(|e| StoreError::Unavailable(cause(std::io::Error::from(e))))?;
        let free = stat.f_bavail.saturating_mul(stat.f_frsize);
        if free < super::MIN_FREE_BYTES {
            return Err(StoreError::DiskFull(super::cause_msg(format!(
                "{free} bytes free on the file system of {}",
                dir.display()
            ))));
        }
        Ok(())
    }

    async fn is_initialized(&self) -> Result<bool, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM sqlite_master WHERE name = '_sqlx_migrations'")
            .fetch_one(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(n > 0)
    }
});
