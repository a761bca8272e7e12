//! Retention: removing rows past their window, a small batch at a time, by the rules of
//! [`crate::storage::retention::RULES`].
use crate::storage::StoreError;
use crate::storage::retention::{Rule, TableRetention};

store_trait! {
/// Removing rows past their retention window (see [`crate::storage::retention::RULES`]).
pub trait RetentionStore {
    /// Deletes at most `limit` of `rule`'s rows aged at or before `cutoff`, in one short
    /// transaction; rows another replica is deleting at the same time are skipped. Returns
    /// how many went.
    async fn prune(&self, rule: &'static Rule, cutoff: i64, limit: u32) -> Result<u64, StoreError>;
    /// The age column of `rule`'s oldest row in scope (seconds since the epoch).
    async fn oldest_row(&self, rule: &'static Rule) -> Result<Option<i64>, StoreError>;
    /// Every retained table: its rows and its oldest row, for operators.
    async fn retention_overview(&self) -> Result<Vec<TableRetention>, StoreError>;
}
}

/// How a backend names the rows of one batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BatchBy {
    /// By primary key (SQLite: one writer at a time, nothing to skip).
    Key,
    /// By physical row address, each row locked as it is chosen and rows other transactions
    /// hold skipped (PostgreSQL): the delete is a TID scan of exactly the chosen rows,
    /// whatever plan the age condition would get, and replicas pruning at once each take
    /// different rows.
    CtidSkipLocked,
}

/// The statement deleting one batch of `rule`'s rows aged at or before `$1`, at most `$2`.
/// The outer condition repeats the age test, so a row changed since it was chosen (a
/// delivery scheduled again) is kept.
pub(crate) fn prune_sql(rule: &crate::storage::retention::Rule, by: BatchBy) -> String {
    let scope = if rule.scope.is_empty() { String::new() } else { format!(" AND {}", rule.scope) };
    let guard = if rule.guard.is_empty() { String::new() } else { format!(" AND {}", rule.guard) };
    let (table, key, age) = (rule.table, rule.key, rule.age);
    let chosen = format!("FROM {table} d WHERE {age} <= $1{scope}{guard} LIMIT $2");
    match by {
        BatchBy::Key => format!("DELETE FROM {table} WHERE ({key}) IN (SELECT {key} {chosen}) AND {age} <= $1{scope}"),
        BatchBy::CtidSkipLocked => format!(
            "DELETE FROM {table} WHERE ctid = ANY(ARRAY(SELECT d.ctid {chosen} FOR UPDATE OF d SKIP LOCKED)) \
             AND {age} <= $1{scope}"
        ),
    }
}

/// The statement reading the age of `rule`'s oldest row in scope.
pub(crate) fn oldest_sql(rule: &crate::storage::retention::Rule) -> String {
    let scope = if rule.scope.is_empty() { String::new() } else { format!(" WHERE {}", rule.scope) };
    format!("SELECT MIN({age}) FROM {table} d{scope}", age = rule.age, table = rule.table)
}

/// Implements [`crate::storage::RetentionStore`] for a backend.
macro_rules! retention {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl $crate::storage::RetentionStore for $store {
            async fn prune(
                &self,
                rule: &'static $crate::storage::retention::Rule,
                cutoff: i64,
                limit: u32,
            ) -> Result<u64, StoreError> {
                let sql = $crate::storage::sql::retention::prune_sql(
                    rule,
                    <$store as $crate::storage::sql::SqlBackend>::PRUNE_BATCH_BY,
                );
                let mut tx = self.begin_write(WriteLock::None).await?;
                let done =
                    sqlx::query(&sql).bind(cutoff).bind(i64::from(limit)).execute(&mut *tx).await.map_err(map_err)?;
                tx.commit().await.map_err(map_err)?;
                Ok(done.rows_affected())
            }

            async fn oldest_row(
                &self,
                rule: &'static $crate::storage::retention::Rule,
            ) -> Result<Option<i64>, StoreError> {
                sqlx::query_scalar::<_, Option<i64>>(&$crate::storage::sql::retention::oldest_sql(rule))
                    .fetch_one(self.pool())
                    .await
                    .map_err(map_err)
            }

            async fn retention_overview(&self) -> Result<Vec<$crate::storage::retention::TableRetention>, StoreError> {
                let mut out = Vec::with_capacity($crate::storage::retention::RULES.len());
                for rule in $crate::storage::retention::RULES {
                    let rows: i64 =
                        sqlx::query_scalar(&<$store as $crate::storage::sql::SqlBackend>::row_count_sql(rule.table))
                            .fetch_one(self.pool())
                            .await
                            .map_err(map_err)?;
                    let oldest = self.oldest_row(rule).await?;
                    out.push($crate::storage::retention::TableRetention {
                        table: rule.table,
                        rows: rows.max(0),
                        oldest,
                    });
                }
                Ok(out)
            }
        }
    };
}

pub(crate) use retention;
