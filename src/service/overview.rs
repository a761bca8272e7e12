//! What the console's overview shows of the database: counts, the webhook outbox, retention.
use super::CoreError;
use super::core::Overview;
use crate::domain::operator::Counts;
use crate::storage::retention;

impl Overview<'_> {
    /// How many clients, keys, connections (per status) ... there are.
    pub async fn counts(&self) -> Result<Counts, CoreError> {
        let store = self.core.store();
        Ok(store.counts().await?)
    }

    /// Deliveries waiting in the webhook outbox, and when the oldest of them was created.
    pub async fn outbox_depth(&self) -> Result<(i64, Option<i64>), CoreError> {
        let store = self.core.store();
        Ok(store.outbox_depth().await?)
    }

    /// When the oldest row that `rule` will one day remove was written, if any.
    pub async fn oldest_row(&self, rule: &'static retention::Rule) -> Result<Option<i64>, CoreError> {
        let store = self.core.store();
        Ok(store.oldest_row(rule).await?)
    }
}
