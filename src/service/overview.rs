//! What the console's overview shows of the database: counts, the webhook outbox, retention.
use super::CoreError;
use crate::domain::operator::Counts;
use crate::storage::{Store, retention};

/// How many clients, keys, connections (per status) ... there are.
pub async fn counts(store: &dyn Store) -> Result<Counts, CoreError> {
    Ok(store.counts().await?)
}

/// Deliveries waiting in the webhook outbox, and when the oldest of them was created.
pub async fn outbox_depth(store: &dyn Store) -> Result<(i64, Option<i64>), CoreError> {
    Ok(store.outbox_depth().await?)
}

/// When the oldest row that `rule` will one day remove was written, if any.
pub async fn oldest_row(store: &dyn Store, rule: &'static retention::Rule) -> Result<Option<i64>, CoreError> {
    Ok(store.oldest_row(rule).await?)
}
