//! `tessera migrate`: apply pending migrations.
use crate::config::DatabaseArgs;

pub async fn run(db: &DatabaseArgs) -> anyhow::Result<()> {
    super::open_store(db, true).await?;
    println!("migrations applied to {}", db.database_url);
    Ok(())
}
