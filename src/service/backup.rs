//! Backing up a database and restoring a backup. SQLite is copied by tessera itself (online,
//! consistent); PostgreSQL is backed up with its own tools (`pg_dump`, or base backups and
//! WAL archiving for point-in-time recovery), which this refuses with directions.
use std::path::Path;

use crate::storage::sqlite::backup::{self as sqlite, BackupInfo};
use crate::storage::{Backend, StoreError};

/// What the key-encryption key seals, which a backup without it cannot give back. One text
/// for the command's help, its output and the README.
pub(crate) const KEK_SEALS: &str = "the signing keys' private halves, the webhook endpoints' signing secrets and the \
                             stored answers of idempotent requests";

const POSTGRES: &str = "a PostgreSQL database is backed up with PostgreSQL's tools: `pg_dump --format=custom` \
                        (restored with `pg_restore`), or base backups with WAL archiving for point-in-time \
                        recovery; keep TESSERA_KEK with them (see the README, \"Backups and restores\")";

/// Copies the database at `url` to the new file `to` while servers keep using it.
pub(crate) async fn backup(url: &str, to: &Path) -> Result<BackupInfo, StoreError> {
    match Backend::of(url)? {
        Backend::Sqlite => sqlite::backup(url, to).await,
        Backend::Postgres => Err(StoreError::Setup(POSTGRES.into())),
    }
}

/// Writes the backup `from` to the new database file `url` names, refusing a backup made by
/// a newer tessera.
pub(crate) async fn restore(from: &Path, url: &str) -> Result<BackupInfo, StoreError> {
    match Backend::of(url)? {
        Backend::Sqlite => sqlite::restore(from, url).await,
        Backend::Postgres => Err(StoreError::Setup(POSTGRES.into())),
    }
}

/// The key-encryption key file serve keeps beside the SQLite database `url` names.
pub(crate) fn kek_file_of_url(url: &str) -> Result<std::path::PathBuf, StoreError> {
    Ok(kek_file_of(&sqlite::path_of(url)?))
}

/// The key-encryption key file serve keeps beside a SQLite database (`<file>.kek`).
pub(crate) fn kek_file_of(database: &Path) -> std::path::PathBuf {
    let mut name = database.as_os_str().to_owned();
    name.push(".kek");
    name.into()
}
