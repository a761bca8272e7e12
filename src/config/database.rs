//! Where the data lives, and the key-encryption key that seals signing keys at rest.
use std::path::PathBuf;
use std::str::FromStr as _;

use clap::Args;

use crate::crypto::kek::Kek;
use crate::storage::{self, Backend, DatabaseUrl};

/// The help heading of the database and key-encryption key flags, and the configuration
/// file's `[database]` section.
pub(super) const HEADING: &str = "Database";

/// The default database: a SQLite file under `./data/`.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/tessera.db";

/// Where the data lives; shared by every command.
#[derive(Args, Clone, Debug)]
#[command(next_help_heading = HEADING)]
pub struct DatabaseArgs {
    /// Database URL: `sqlite://PATH` (created if missing) or `postgres://USER:PASSWORD@HOST/DB`.
    #[arg(long, env = "TESSERA_DATABASE_URL", default_value = DEFAULT_DATABASE_URL, global = true,
          hide_env_values = true)]
    pub database_url: DatabaseUrl,

    /// Most database connections each process holds open.
    #[arg(long, env = "TESSERA_DB_POOL_SIZE", default_value_t = 8, global = true,
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub db_pool_size: u32,

    /// Seconds to wait for a database connection, a lock or one statement before answering 503.
    #[arg(long, env = "TESSERA_DB_TIMEOUT", default_value_t = 5, global = true,
          value_parser = clap::value_parser!(u64).range(1..=300))]
    pub db_timeout: u64,
}

impl std::fmt::Debug for KekArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KekArgs")
            .field("kek", &self.kek.as_ref().map(|_| "<redacted>"))
            .field("kek_file", &self.kek_file)
            .finish()
    }
}

impl DatabaseArgs {
    pub fn options(&self) -> storage::DbOptions {
        storage::DbOptions {
            pool_size: self.db_pool_size,
            timeout: std::time::Duration::from_secs(self.db_timeout),
            create: true,
        }
    }
}

/// The key-encryption key that seals signing keys at rest. `Debug` never shows it.
#[derive(Args, Clone)]
pub struct KekArgs {
    /// Key-encryption key: 32 random bytes, standard base64 (`openssl rand -base64 32`).
    /// With SQLite and no value, a key file beside the database is used (created if missing).
    #[arg(long = "kek", env = "TESSERA_KEK", hide_env_values = true)]
    pub kek: Option<String>,

    /// A file holding the key-encryption key (in the same base64), e.g. a systemd credential
    /// (`LoadCredential=kek:/etc/tessera/kek`, then `TESSERA_KEK_FILE=%d/kek`). Not with --kek.
    #[arg(long = "kek-file", env = "TESSERA_KEK_FILE")]
    pub kek_file: Option<PathBuf>,
}

/// How the key-encryption key was found.
#[derive(Debug)]
pub enum KekSource {
    Config,
    File {
        path: PathBuf,
        created: bool,
    },
    /// The file named by `--kek-file`.
    Named(PathBuf),
    Ephemeral,
}

impl KekArgs {
    /// The KEK from config, else (SQLite only) from the key file beside the database.
    pub fn resolve(&self, database_url: &DatabaseUrl) -> anyhow::Result<(Kek, KekSource)> {
        let database_url = database_url.expose();
        if let Some(path) = &self.kek_file {
            if self.kek.is_some() {
                anyhow::bail!("TESSERA_KEK / --kek and TESSERA_KEK_FILE / --kek-file are both set: keep one");
            }
            let text = zeroize::Zeroizing::new(
                std::fs::read_to_string(path)
                    .map_err(|e| anyhow::anyhow!("TESSERA_KEK_FILE / --kek-file {}: {e}", path.display()))?,
            );
            let kek = Kek::from_base64(&text)
                .map_err(|e| anyhow::anyhow!("TESSERA_KEK_FILE / --kek-file {}: {e}", path.display()))?;
            return Ok((kek, KekSource::Named(path.clone())));
        }
        if let Some(v) = &self.kek {
            let kek = Kek::from_base64(v).map_err(|e| anyhow::anyhow!("TESSERA_KEK / --kek: {e}"))?;
            return Ok((kek, KekSource::Config));
        }
        match Backend::of(database_url)? {
            Backend::Sqlite => match sqlite_kek_path(database_url)? {
                Some(path) => {
                    let (kek, created) = Kek::load_or_create(&path)?;
                    Ok((kek, KekSource::File { path, created }))
                }
                None => Ok((Kek::generate(), KekSource::Ephemeral)),
            },
            Backend::Postgres => anyhow::bail!(
                "with PostgreSQL the key-encryption key must come from config, the same on every \
                 replica: set TESSERA_KEK (or --kek) to 32 random bytes in base64, e.g. the output \
                 of `openssl rand -base64 32`, or name a file holding them with TESSERA_KEK_FILE \
                 (or --kek-file)"
            ),
        }
    }
}

/// `<database file>.kek` for a file database; `None` for an in-memory one.
fn sqlite_kek_path(url: &str) -> anyhow::Result<Option<PathBuf>> {
    sqlite_file_beside(url, ".kek")
}

/// `<database file><suffix>` for a SQLite file database; `None` for an in-memory one.
pub fn sqlite_file_beside(url: &str, suffix: &str) -> anyhow::Result<Option<PathBuf>> {
    let opts = sqlx::sqlite::SqliteConnectOptions::from_str(url)
        .map_err(|e| anyhow::anyhow!("TESSERA_DATABASE_URL: not a SQLite URL ({e})"))?;
    let file = opts.get_filename();
    if file.as_os_str().is_empty() || url.contains(":memory:") || url.contains("mode=memory") {
        return Ok(None);
    }
    let mut name = file.as_os_str().to_owned();
    name.push(suffix);
    Ok(Some(PathBuf::from(name)))
}

/// Checks a database URL names a backend tessera has, with an actionable message.
pub fn check_database_url(url: &DatabaseUrl) -> anyhow::Result<()> {
    Backend::of(url.expose())
        .map(|_| ())
        .map_err(|e| anyhow::anyhow!("TESSERA_DATABASE_URL / --database-url {url}: {e}"))
}
