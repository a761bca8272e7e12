//! The first start's API key, created with the default client on an empty database: printed
//! on a terminal, where the person who started tessera reads it; otherwise (a service, a
//! container, a pipe, where standard output ends up in a journal or a log store) written to a
//! private file, and only the file's place is printed and logged.
use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};

use crate::auth::api_key::PlainApiKey;
use crate::config::ServeConfig;
use crate::domain::ids::ClientId;
use crate::storage::{Backend, DatabaseUrl};

/// The file's name beside a SQLite database, or in the state directory.
const SUFFIX: &str = ".first-api-key";

/// Shows the key on a terminal, or writes it to its file and says where.
pub(crate) fn hand_over(
    config: &ServeConfig,
    database_url: &DatabaseUrl,
    client: &ClientId,
    key: &PlainApiKey,
) -> anyhow::Result<()> {
    let explicit = config.first_key_file.as_deref();
    if explicit.is_none() && std::io::stdout().is_terminal() {
        super::shared::announce(&format!(
            "\nCreated the default client {client} and its API key (shown once, store it now):\n\n    {}\n",
            key.expose()
        ));
        return Ok(());
    }
    let path = match explicit {
        Some(path) => path.to_owned(),
        None => default_path(database_url, std::env::var_os("STATE_DIRECTORY").as_deref())?,
    };
    write_private(&path, key).map_err(|e| {
        anyhow::anyhow!(
            "the default client {client} was created, but its API key could not be written to {} ({e}): fix \
             TESSERA_FIRST_KEY_FILE / --first-key-file, then create a key with `tessera key create --client {client}`",
            path.display()
        )
    })?;
    tracing::warn!(
        path = %path.display(),
        client_id = %client,
        "created the default client; its API key is in this file (mode 0600): store the key, then delete the file"
    );
    // The line a script waits for, as it waits for `tessera listening on`.
    super::shared::announce(&format!("tessera wrote the first API key to {}", path.display()));
    Ok(())
}

/// Beside a SQLite database file; else in the service's state directory (systemd's
/// `StateDirectory=` sets `$STATE_DIRECTORY`, its first entry counts); else in the working
/// directory.
pub(crate) fn default_path(
    database_url: &DatabaseUrl,
    state_directory: Option<&std::ffi::OsStr>,
) -> anyhow::Result<PathBuf> {
    let url = database_url.expose();
    if Backend::of(url)? == Backend::Sqlite
        && let Some(path) = crate::config::sqlite_file_beside(url, SUFFIX)?
    {
        return Ok(path);
    }
    let name = format!("tessera{SUFFIX}");
    let dir = state_directory
        .and_then(|d| d.to_str())
        .and_then(|d| d.split(':').next())
        .filter(|d| !d.is_empty())
        .map(PathBuf::from);
    Ok(dir.map_or_else(|| PathBuf::from(&name), |d| d.join(&name)))
}

/// Writes the key to `path`, readable and writable by the owner only; a file left there (by
/// an earlier database) is replaced.
fn write_private(path: &Path, key: &PlainApiKey) -> std::io::Result<()> {
    use std::io::Write as _;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    // An existing file keeps its mode when opened: narrow it before the key is in it.
    #[cfg(unix)]
    file.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
    writeln!(file, "{}", key.expose())?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_file_is_beside_a_sqlite_database_else_in_the_state_directory() {
        let at = |url: &str, state: Option<&str>| {
            default_path(&DatabaseUrl::new(url), state.map(std::ffi::OsStr::new)).expect("a path")
        };
        assert_eq!(
            at("sqlite:///var/lib/tessera/tessera.db", None),
            PathBuf::from("/var/lib/tessera/tessera.db.first-api-key")
        );
        assert_eq!(
            at("sqlite://data/tessera.db", Some("/var/lib/tessera")),
            PathBuf::from("data/tessera.db.first-api-key")
        );
        let pg = "postgres://app:pw@db/tessera";
        assert_eq!(
            at(pg, Some("/var/lib/tessera:/var/lib/other")),
            PathBuf::from("/var/lib/tessera/tessera.first-api-key")
        );
        assert_eq!(at(pg, None), PathBuf::from("tessera.first-api-key"));
        assert_eq!(at("sqlite::memory:", Some("/run/state")), PathBuf::from("/run/state/tessera.first-api-key"));
    }
}
