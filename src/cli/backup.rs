//! `tessera backup TO` and `tessera restore FROM`: a consistent copy of a SQLite database
//! taken while servers run, and putting one back.
use std::path::PathBuf;

use clap::Args;

use crate::config::DatabaseArgs;
use crate::service::backup::{self, KEK_SEALS, kek_file_of};

/// The key-encryption key's part in a backup, for both commands' help.
fn kek_help() -> String {
    format!(
        "The backup does not hold the key-encryption key (KEK): keep it with the backup, but apart \
         from it - the file DATABASE.kek that serve created beside the database (sqlite://data/tessera.db: \
         data/tessera.db.kek), or the TESSERA_KEK value. It seals {KEK_SEALS}. A backup restored without \
         its KEK cannot sign tokens with its keys (serve refuses to start) nor sign webhook deliveries. \
         PostgreSQL is backed up with pg_dump or WAL archiving instead (README: \"Backups and restores\")."
    )
}

/// `tessera backup TO`.
#[derive(Args, Debug)]
#[command(after_long_help = kek_help())]
pub struct BackupArgs {
    /// The new file to write the backup to (it must not exist). The copy is consistent (one
    /// instant of the database, every transaction committed before it) and is taken while
    /// servers keep serving; it is readable by its owner only.
    pub to: PathBuf,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `tessera restore FROM`.
#[derive(Args, Debug)]
#[command(after_long_help = kek_help())]
pub struct RestoreArgs {
    /// The backup to restore, written by `tessera backup`. It is checked (SQLite's integrity
    /// check, and a schema this tessera knows: a backup made by a newer tessera is refused)
    /// and copied to --database-url, which must not exist yet.
    pub from: PathBuf,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

pub(crate) async fn run_backup(db: &DatabaseArgs, args: BackupArgs) -> anyhow::Result<()> {
    let info = backup::backup(db.database_url.expose(), &args.to)
        .await
        .map_err(|e| anyhow::Error::new(e).context(format!("backup of {}", db.database_url)))?;
    let kek = backup::kek_file_of_url(db.database_url.expose())?;
    let value = serde_json::json!({
        "backup": info.file.display().to_string(),
        "bytes": info.bytes,
        "schema": info.schema,
        "kek_file": kek.is_file().then(|| kek.display().to_string()),
    });
    super::shared::output(args.json, &value, || {
        let named = std::env::var_os("TESSERA_KEK_FILE").map(std::path::PathBuf::from);
        let keep = match named {
            Some(file) => format!("the key-encryption key file {} (TESSERA_KEK_FILE)", file.display()),
            None if kek.is_file() => {
                format!("the key-encryption key file {} (or TESSERA_KEK, if serve was given it)", kek.display())
            }
            None => "the TESSERA_KEK value serve was given".to_owned(),
        };
        format!(
            "Backed up {} to {} ({} bytes, schema {}).\nThe backup does not hold the key-encryption key: keep \
             {keep} with it, stored apart from it. Without it the backup cannot give back {KEK_SEALS}.",
            db.database_url,
            info.file.display(),
            info.bytes,
            info.schema
        )
    });
    Ok(())
}

pub(crate) async fn run_restore(db: &DatabaseArgs, args: RestoreArgs) -> anyhow::Result<()> {
    let info = backup::restore(&args.from, db.database_url.expose())
        .await
        .map_err(|e| anyhow::Error::new(e).context(format!("restore of {}", args.from.display())))?;
    let kek = kek_file_of(&info.file);
    let value = serde_json::json!({
        "database": info.file.display().to_string(),
        "bytes": info.bytes,
        "schema": info.schema,
        "kek_file": kek.display().to_string(),
    });
    super::shared::output(args.json, &value, || {
        format!(
            "Restored {} to {} ({} bytes, schema {}; integrity check ok).\nBefore starting serve on it, put the \
             key-encryption key the backup was made under at {} (or give serve TESSERA_KEK or --kek-file): it opens {KEK_SEALS}. \
             serve migrates an older schema forward.",
            args.from.display(),
            info.file.display(),
            info.bytes,
            info.schema,
            kek.display()
        )
    });
    Ok(())
}
