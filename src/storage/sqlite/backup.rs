//! Backups of a SQLite database while it is in use, and restoring one to a new file.
//!
//! A backup is `VACUUM INTO`: one read transaction of its own, so the copy is the database
//! as one instant saw it (every transaction committed before it, none after), taken while
//! servers keep writing. It runs in the process that asks for it (`tessera backup`), through
//! SQLite, like any other reader; nothing here opens a database file any other way (closing
//! a descriptor of a file drops every SQLite lock its process holds on it).
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::str::FromStr as _;

use sqlx::Connection as _;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};

use super::{MIGRATOR, file};
use crate::storage::StoreError;

/// What a backup (or the backup a restore read) holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct BackupInfo {
    /// The database file's path.
    pub file: PathBuf,
    /// Its size.
    pub bytes: u64,
    /// The newest migration applied to it (`20261202000012`).
    pub schema: i64,
}

/// The file a `sqlite://` URL names; an in-memory database has none.
pub(crate) fn path_of(url: &str) -> Result<PathBuf, StoreError> {
    let opts =
        SqliteConnectOptions::from_str(url).map_err(|e| StoreError::Setup(format!("invalid SQLite URL: {e}")))?;
    let path = opts.get_filename().to_path_buf();
    if path.as_os_str().is_empty() || url.contains(":memory:") || url.contains("mode=memory") {
        return Err(StoreError::Setup("an in-memory database has nothing to back up or restore to".into()));
    }
    Ok(path)
}

/// Copies the database at `url` to the new file `to`, consistently, while servers use it.
pub(crate) async fn backup(url: &str, to: &Path) -> Result<BackupInfo, StoreError> {
    let database = path_of(url)?;
    if !database.is_file() {
        return Err(StoreError::Setup(format!("there is no database at {}", database.display())));
    }
    let mut source = open(&database, false).await?;
    let schema = schema_of(&mut source, &database).await?;
    copy_into(&mut source, to).await?;
    source.close().await.map_err(|e| setup(&database, e))?;
    let mut copy = open(to, true).await?;
    integrity(&mut copy, to).await?;
    copy.close().await.map_err(|e| setup(to, e))?;
    Ok(BackupInfo { file: to.to_path_buf(), bytes: size(to), schema })
}

/// Writes the backup `from` to the database file `url` names, which must not exist yet.
/// Refused: a file that is not a tessera database, one that fails SQLite's integrity check,
/// and one migrated by a newer tessera than this one.
pub(crate) async fn restore(from: &Path, url: &str) -> Result<BackupInfo, StoreError> {
    let database = path_of(url)?;
    if !from.is_file() {
        return Err(StoreError::Setup(format!("there is no backup at {}", from.display())));
    }
    let mut backup = open(from, true).await?;
    integrity(&mut backup, from).await?;
    let schema = schema_of(&mut backup, from).await?;
    let applied: Vec<i64> = sqlx::query_scalar("SELECT version FROM _sqlx_migrations ORDER BY version")
        .fetch_all(&mut backup)
        .await
        .map_err(|e| setup(from, e))?;
    let known: Vec<i64> = MIGRATOR.iter().map(|m| m.version).collect();
    if let Some(newer) = applied.iter().find(|v| !known.contains(v)) {
        return Err(StoreError::Setup(format!(
            "the backup {} has migration {newer}, which this tessera does not know: it was made by a newer \
             tessera; restore it with that version (or newer)",
            from.display()
        )));
    }
    // Taken as every start takes it, so that no server starts on the file half written.
    let _guard = file::prepare_file(database.clone(), true).await?;
    for suffix in ["", "-wal", "-shm"] {
        let mut name = database.as_os_str().to_owned();
        name.push(suffix);
        if std::fs::metadata(&name).is_ok_and(|m| m.len() > 0) {
            return Err(StoreError::Setup(format!(
                "{} exists already: restore to a new path (or stop the servers and move the old database and \
                 its -wal and -shm files away first)",
                PathBuf::from(name).display()
            )));
        }
    }
    copy_into(&mut backup, &database).await?;
    backup.close().await.map_err(|e| setup(from, e))?;
    Ok(BackupInfo { file: database.clone(), bytes: size(&database), schema })
}

async fn open(path: &Path, read_only: bool) -> Result<SqliteConnection, StoreError> {
    let opts = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(false)
        .read_only(read_only)
        .busy_timeout(std::time::Duration::from_secs(30));
    SqliteConnection::connect_with(&opts).await.map_err(|e| setup(path, e))
}

/// The newest migration applied; a file without tessera's migrations is no tessera database.
async fn schema_of(conn: &mut SqliteConnection, path: &Path) -> Result<i64, StoreError> {
    let newest: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations WHERE success")
        .fetch_one(&mut *conn)
        .await
        .map_err(|_| {
            StoreError::Setup(format!("{} is not a tessera database (it has no migrations)", path.display()))
        })?;
    newest.ok_or_else(|| StoreError::Setup(format!("{} has no migration applied", path.display())))
}

async fn integrity(conn: &mut SqliteConnection, path: &Path) -> Result<(), StoreError> {
    let rows: Vec<String> =
        sqlx::query_scalar("PRAGMA integrity_check").fetch_all(&mut *conn).await.map_err(|e| setup(path, e))?;
    if rows != ["ok"] {
        return Err(StoreError::Setup(format!(
            "{} fails SQLite's integrity check: {}",
            path.display(),
            rows.into_iter().take(5).collect::<Vec<_>>().join("; ")
        )));
    }
    Ok(())
}

/// `VACUUM INTO` a new file, created first readable by its owner alone (a copy holds what
/// the database holds), then flushed to disk with its directory entry.
async fn copy_into(source: &mut SqliteConnection, to: &Path) -> Result<(), StoreError> {
    let taken = std::fs::metadata(to).is_ok_and(|m| m.len() > 0);
    if taken {
        return Err(StoreError::Setup(format!("{} exists already: choose a new file", to.display())));
    }
    if let Some(dir) = to.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| setup(dir, e))?;
    }
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(to)
        .map_err(|e| setup(to, e))?;
    let target = to.to_str().ok_or_else(|| StoreError::Setup(format!("{} is not valid UTF-8", to.display())))?;
    if let Err(e) = sqlx::query("VACUUM INTO ?").bind(target).execute(&mut *source).await {
        let _ = std::fs::remove_file(to);
        return Err(setup(to, e));
    }
    let sync = |p: &Path| std::fs::File::open(p).and_then(|f| f.sync_all());
    sync(to).map_err(|e| setup(to, e))?;
    if let Some(dir) = to.parent().filter(|d| !d.as_os_str().is_empty()) {
        sync(dir).map_err(|e| setup(dir, e))?;
    }
    Ok(())
}

fn size(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

fn setup(path: &Path, e: impl std::fmt::Display) -> StoreError {
    StoreError::Setup(format!("{}: {e}", path.display()))
}
