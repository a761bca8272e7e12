//! The embedded backend: one SQLite file in WAL mode with `synchronous = FULL`, so a
//! committed transaction survives a process kill and a power loss.
use std::str::FromStr as _;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool, Transaction};

use super::DbOptions;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// A [`Store`] on one SQLite database file.
pub struct SqliteStore {
    pool: SqlitePool,
    /// The database file; `None` for an in-memory database.
    file: Option<std::path::PathBuf>,
}

impl SqliteStore {
    pub async fn connect(url: &str, options: &DbOptions) -> Result<Self, StoreError> {
        let opts = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::Other(format!("invalid SQLite URL: {e}")))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(options.timeout)
            .foreign_keys(true);
        let file = opts.get_filename().to_path_buf();
        let in_memory = file.as_os_str().is_empty() || url.contains(":memory:") || url.contains("mode=memory");
        if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError::Other(format!("cannot create {}: {e}", dir.display())))?;
        }
        let file = (!in_memory).then_some(file);
        // The first connection of a new file switches it to WAL, which needs the file to
        // itself; processes starting together take turns (see `migrate`).
        let guard = match &file {
            Some(path) => Some(lock_file(path.clone()).await?),
            None => None,
        };
        let pool = SqlitePoolOptions::new()
            .max_connections(options.pool_size)
            .acquire_timeout(options.timeout)
            .connect_with(opts)
            .await
            .map_err(map_err)?;
        drop(guard);
        Ok(Self { pool, file })
    }

    /// A transaction that holds SQLite's write lock from its first statement (`BEGIN
    /// IMMEDIATE`): a read-then-write transaction that upgrades later can fail at once with
    /// `SQLITE_BUSY` instead of waiting. The one write lock serializes every critical section.
    async fn begin_write(&self, _lock: WriteLock) -> Result<Transaction<'static, Sqlite>, StoreError> {
        self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(map_err)
    }
}

fn map_err(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::RowNotFound => StoreError::NotFound,
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
            StoreError::Unavailable(e.to_string())
        }
        sqlx::Error::Database(db) => {
            if db.is_unique_violation() {
                StoreError::Conflict(db.message().to_owned())
            } else if matches!(db.code().as_deref(), Some("5" | "6" | "261" | "517")) {
                // SQLITE_BUSY / SQLITE_LOCKED and their extended codes.
                StoreError::Unavailable(db.message().to_owned())
            } else {
                StoreError::Other(db.message().to_owned())
            }
        }
        _ => StoreError::Other(e.to_string()),
    }
}

/// An exclusive advisory lock on `path`, held until the returned file is dropped.
async fn lock_file(path: std::path::PathBuf) -> Result<std::fs::File, StoreError> {
    tokio::task::spawn_blocking(move || {
        // Creating the file empty is harmless: SQLite treats an empty file as a new database.
        let f = std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path)?;
        f.lock()?;
        Ok::<_, std::io::Error>(f)
    })
    .await
    .map_err(|e| StoreError::Other(e.to_string()))?
    .map_err(|e| StoreError::Other(format!("cannot lock the database file for migration: {e}")))
}

super::sql_store::sql_store!(SqliteStore, sqlx::sqlite::SqliteRow, sqlx::SqliteConnection, {
    async fn migrate(&self) -> Result<(), StoreError> {
        // Processes starting together on a new file would each try to apply the migrations
        // and fail on SQLite's lock upgrade; an advisory lock on the file (independent of
        // SQLite's own locks) lets one migrate while the others wait, then find nothing to do.
        let _guard = match &self.file {
            Some(path) => Some(lock_file(path.clone()).await?),
            None => None,
        };
        MIGRATOR.run(&self.pool).await.map_err(super::migrate_error)
    }
});
