//! The embedded backend: one SQLite file in WAL mode with `synchronous = FULL`, so a
//! committed transaction survives a process kill and a power loss.
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::str::FromStr as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use sqlx::sqlite::{SqliteAutoVacuum, SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool, Transaction};

use super::{DbOptions, cause};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// A [`Store`] on one SQLite database file.
pub struct SqliteStore {
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

/// What the checkpointer and the issuance writer share to restart the log.
#[derive(Default)]
struct LogRestart {
    /// Set by the checkpointer when the log should be restarted.
    cue: AtomicBool,
    /// Batches the issuance writer has committed: unchanged over a round, the writer is idle.
    batches: AtomicU64,
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        if let Some(task) = &self.checkpointer {
            task.abort();
        }
    }
}

/// How often the write-ahead log is checkpointed.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(200);

/// Past this many frames (about 16 MiB) the log is restarted from its beginning.
const WAL_RESTART_FRAMES: i64 = 4096;
/// A restart waits for no more than this many frames to be copied while writers wait.
const WAL_RESTART_BACKLOG: i64 = 256;

/// Checkpoints the write-ahead log from a reading connection, so that no commit waits for
/// one (SQLite would otherwise run it inside whichever commit crosses the log's size
/// threshold). `PASSIVE` neither waits for nor blocks readers and writers, but under steady
/// writes it never copies the very end of the log, so the log would only grow. Once it is
/// long and little is left to copy, the log is restarted. While the issuance writer is busy,
/// the writer does that between two of its batches, without waiting for anyone (`cue`); a
/// `RESTART` checkpoint from here would hold every writer back while it waits for the
/// checkpoint lock and for readers, and the issuance writer would sleep in SQLite's busy
/// handler behind it (stalls of up to 1.6 s were measured so). When the issuance writer is
/// idle, the `RESTART` runs here.
async fn checkpoint(pool: SqlitePool, restart: Arc<LogRestart>) {
    let passive = || sqlx::query_as::<_, (i64, i64, i64)>("PRAGMA wal_checkpoint(PASSIVE)").fetch_one(&pool);
    let mut batches = restart.batches.load(Ordering::Relaxed);
    loop {
        tokio::time::sleep(CHECKPOINT_EVERY).await;
        let result = async {
            let (_, mut log, mut copied) = passive().await?;
            let busy = std::mem::replace(&mut batches, restart.batches.load(Ordering::Relaxed)) != batches;
            if log <= WAL_RESTART_FRAMES {
                restart.cue.store(false, Ordering::Relaxed);
                return Ok(());
            }
            for _ in 0..20 {
                if log - copied <= WAL_RESTART_BACKLOG {
                    break;
                }
                (_, log, copied) = passive().await?;
            }
            if log - copied > WAL_RESTART_BACKLOG {
                return Ok(());
            }
            if busy {
                restart.cue.store(true, Ordering::Relaxed);
            } else {
                sqlx::query("PRAGMA wal_checkpoint(RESTART)").execute(&pool).await?;
            }
            Ok::<_, sqlx::Error>(())
        };
        if let Err(e) = result.await {
            tracing::debug!(error = %e, "checkpoint skipped");
        }
    }
}

impl SqliteStore {
    pub async fn connect(url: &str, options: &DbOptions) -> Result<Self, StoreError> {
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

    /// The issuance statement inside its transaction, sent as one call: the writer
    /// connection's thread runs all three statements without waiting on anyone in between.
    fn issuance_sql(rows: usize) -> &'static str {
        static SQL: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
        super::sql::issuance_sql(&SQL, rows, false, "", |insert| format!("BEGIN IMMEDIATE; {insert}; COMMIT"))
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

/// Records one token if its connection is the client's and not disconnected and its key is
/// the client's and not revoked, reading the customer id its claims carry in the same step.
const ISSUE_ONE: &str = "INSERT INTO issued_tokens
         (jti, connection_id, client_id, api_key_id, kid, issued_at, expires_at, customer_id)
     SELECT ?1, c.id, c.client_id, k.id, ?5, ?6, ?7, c.customer_id
     FROM connections c JOIN api_keys k ON k.id = ?4 AND k.client_id = c.client_id
     WHERE c.id = ?2 AND c.client_id = ?3 AND c.status <> 'disconnected' AND k.revoked_at IS NULL
     RETURNING customer_id";

/// The issuance writer's own connection to the database file, used from the writer's thread
/// alone: a batch is one `BEGIN IMMEDIATE` ... `COMMIT` run straight through on that thread,
/// with no hand-off to a connection's worker thread and back for each statement.
struct SqliteIssuance {
    conn: rusqlite::Connection,
    /// Between the checkpointer and this writer (see [`checkpoint`]).
    restart: Arc<LogRestart>,
    /// The longest wait for SQLite's write lock.
    timeout: std::time::Duration,
}

impl SqliteIssuance {
    /// Opens `path` (already created and migrated, in WAL mode) with the settings of every
    /// other connection: `synchronous = FULL`, foreign keys on, and no automatic checkpoint
    /// inside a commit (the checkpointer does that).
    fn open(path: &Path, timeout: std::time::Duration, restart: Arc<LogRestart>) -> Result<Self, StoreError> {
        use rusqlite::OpenFlags;
        let setup = |e: rusqlite::Error| StoreError::Setup(format!("cannot open the issuance connection: {e}"));
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = rusqlite::Connection::open_with_flags(path, flags).map_err(setup)?;
        conn.busy_timeout(timeout).map_err(setup)?;
        let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0)).map_err(setup)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Setup(format!("the database is in journal mode {mode}, not WAL")));
        }
        conn.execute_batch("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA wal_autocheckpoint = 0;")
            .map_err(setup)?;
        Ok(Self { conn, restart, timeout })
    }
}

impl super::IssuanceConnection for SqliteIssuance {
    /// Copies what is left of the log into the database file and starts the log over, when
    /// the checkpointer asked for it: after a batch is answered and before the next begins.
    fn maintain(&mut self) {
        if !self.restart.cue.load(Ordering::Relaxed) {
            return;
        }
        // Without waiting: when the checkpointer or a reader is in the way, this copies what
        // it can and the next batch tries again.
        let restart = |conn: &rusqlite::Connection| {
            conn.busy_timeout(std::time::Duration::ZERO)?;
            let busy = conn.query_row("PRAGMA wal_checkpoint(RESTART)", [], |r| r.get::<_, i64>(0));
            conn.busy_timeout(self.timeout)?;
            busy
        };
        match restart(&self.conn) {
            Ok(0) => self.restart.cue.store(false, Ordering::Relaxed),
            Ok(_) => {}
            Err(e) => tracing::debug!(error = %e, "log restart skipped"),
        }
    }
    fn record(&mut self, batch: &[IssuedToken]) -> Result<Vec<super::Recorded>, StoreError> {
        use rusqlite::{OptionalExtension as _, TransactionBehavior, params};
        // A batch whose commit failed rolled back when its transaction was dropped; should that
        // rollback itself have failed, end the transaction now rather than fail every batch.
        if !self.conn.is_autocommit() {
            self.conn.execute_batch("ROLLBACK").map_err(issuance_error)?;
        }
        // Dropped without a commit, the transaction rolls back.
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(issuance_error)?;
        let mut outcomes = Vec::with_capacity(batch.len());
        {
            let mut one = tx.prepare_cached(ISSUE_ONE).map_err(issuance_error)?;
            for t in batch {
                let row = one
                    .query_row(
                        params![
                            t.jti.as_str(),
                            t.connection_id.as_str(),
                            t.client_id.as_str(),
                            t.api_key_id.as_str(),
                            t.kid.as_str(),
                            t.issued_at,
                            t.expires_at
                        ],
                        |r| r.get::<_, String>(0),
                    )
                    .optional();
                outcomes.push(match row {
                    Ok(customer) => Ok(customer),
                    // A constraint refuses this statement alone; the transaction goes on.
                    Err(
                        e @ rusqlite::Error::SqliteFailure(
                            rusqlite::ffi::Error { code: rusqlite::ErrorCode::ConstraintViolation, .. },
                            _,
                        ),
                    ) => Err(issuance_error(e)),
                    // Anything else may have ended the transaction: the whole batch fails.
                    Err(e) => return Err(issuance_error(e)),
                });
            }
        }
        tx.commit().map_err(issuance_error)?;
        self.restart.batches.fetch_add(1, Ordering::Relaxed);
        Ok(outcomes)
    }
}

fn issuance_error(e: rusqlite::Error) -> StoreError {
    use rusqlite::ErrorCode;
    match &e {
        rusqlite::Error::SqliteFailure(f, _) => match f.code {
            ErrorCode::DiskFull => StoreError::DiskFull(cause(e)),
            ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked | ErrorCode::SystemIoFailure => {
                StoreError::Unavailable(cause(e))
            }
            ErrorCode::ConstraintViolation if f.extended_code == 2067 || f.extended_code == 1555 => {
                StoreError::Conflict(cause(e))
            }
            _ => StoreError::Database(cause(e)),
        },
        _ => StoreError::Database(cause(e)),
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

/// The lock file beside a database file: `<database>.lock`.
fn lock_path(database: &Path) -> PathBuf {
    let mut name = database.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

/// Only the owner may read or write a database file: it holds issuance records, sealed
/// keys and digests that no other local user has any business reading.
const FILE_MODE: u32 = 0o600;

/// An exclusive advisory lock between tessera processes on one database, held until the
/// returned file is dropped.
///
/// The lock is taken on a file of its own beside the database, never on the database file
/// itself: on Linux, closing any descriptor of a file drops every POSIX lock the process
/// holds on that file, SQLite's included. A process that loses SQLite's read lock that way
/// lets the next SQLite process to close believe it is the last one, and delete the log
/// under the server.
async fn lock(database: PathBuf) -> Result<std::fs::File, StoreError> {
    let path = lock_path(&database);
    tokio::task::spawn_blocking(move || {
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(FILE_MODE)
            .open(&path)?;
        f.lock()?;
        Ok::<_, std::io::Error>(f)
    })
    .await
    .map_err(|e| StoreError::Setup(format!("cannot lock {}: {e}", lock_path(&database).display())))?
    .map_err(|e| StoreError::Setup(format!("cannot lock {}: {e}", lock_path(&database).display())))
}

/// Takes the start-up lock and readies the database file before this process's first
/// SQLite connection: a missing file is refused unless `create` allows making one, and is
/// created readable by its owner alone (SQLite gives its log and shared-memory files the
/// database file's mode); files left readable by others are narrowed to the owner.
/// Nothing here opens the database file itself (see [`lock`]).
async fn prepare_file(database: PathBuf, create: bool) -> Result<std::fs::File, StoreError> {
    if let Some(dir) = database.parent().filter(|d| !d.as_os_str().is_empty()) {
        if create {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError::Setup(format!("cannot create {}: {e}", dir.display())))?;
        } else if !dir.is_dir() {
            return Err(missing(&database));
        }
    }
    let guard = lock(database.clone()).await?;
    let exists = std::fs::metadata(&database).is_ok_and(|m| m.len() > 0);
    if !exists && !create {
        return Err(missing(&database));
    }
    if !exists {
        // Created empty with the owner-only mode, and closed before SQLite opens it: this
        // process holds no SQLite lock yet, so closing this descriptor drops none.
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(FILE_MODE)
            .open(&database)
            .map_err(|e| StoreError::Setup(format!("cannot create {}: {e}", database.display())))?;
    }
    for suffix in ["", "-wal", "-shm"] {
        let mut name = database.as_os_str().to_owned();
        name.push(suffix);
        let path = PathBuf::from(name);
        // By path, not by descriptor: changing the mode opens nothing.
        if let Ok(meta) = std::fs::metadata(&path)
            && meta.permissions().mode() & 0o077 != 0
        {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(FILE_MODE)).map_err(|e| {
                StoreError::Setup(format!("cannot make {} readable by its owner only: {e}", path.display()))
            })?;
        }
    }
    Ok(guard)
}

fn missing(database: &Path) -> StoreError {
    StoreError::Setup(format!(
        "there is no database at {}: check the database URL (only `tessera serve` and `tessera migrate` \
         create a database)",
        database.display()
    ))
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
