//! `tessera migrate`: apply pending migrations, and say which.
use crate::config::DatabaseArgs;

pub(crate) async fn run(db: &DatabaseArgs) -> anyhow::Result<()> {
    let options = crate::storage::DbOptions { create: true, ..db.options() };
    let (_, applied) = crate::storage::connect_and_migrate(db.database_url.expose(), &options)
        .await
        .map_err(|e| anyhow::Error::new(e).context(format!("database {}", db.database_url)))?;
    super::shared::say(&report(&db.database_url.to_string(), &applied));
    Ok(())
}

fn report(database: &str, applied: &[String]) -> String {
    if applied.is_empty() {
        return format!("{database}: already up to date, no migration to apply");
    }
    let mut out = format!("{database}: applied {} migration(s):", applied.len());
    for m in applied {
        out.push_str("\n  ");
        out.push_str(m);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_report_names_each_migration_or_says_there_was_none() {
        assert_eq!(super::report("db", &[]), "db: already up to date, no migration to apply");
        assert_eq!(
            super::report("db", &["0001 init".into(), "0002 keys".into()]),
            "db: applied 2 migration(s):\n  0001 init\n  0002 keys"
        );
    }
}
