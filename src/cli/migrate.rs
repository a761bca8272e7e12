//! `tessera migrate`: apply pending migrations.
use crate::config::DatabaseArgs;

pub async fn run(db: &DatabaseArgs) -> anyhow::Result<()> {
    super::open_store(db, true).await?;
    println!("migrations applied to {}", crate::storage::redact_url(&db.database_url));
    Ok(())
}
