//! The database file and its neighbours: the lock file processes take turns on, and modes
//! that keep every file readable by its owner alone.
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use crate::storage::StoreError;

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
pub(super) async fn lock(database: PathBuf) -> Result<std::fs::File, StoreError> {
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
pub(super) async fn prepare_file(database: PathBuf, create: bool) -> Result<std::fs::File, StoreError> {
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
