//! The durable record of every minted token, and revocation.
use crate::domain::ids::TokenId;
use crate::domain::token::IssuedToken;
use crate::storage::StoreError;

store_trait! {
/// The durable record of every minted token, and revocation.
pub trait IssuanceStore {
    /// Durably records a batch of minted tokens in one transaction (the activity log shows
    /// each as a `token_issued` event). A token is recorded only when, inside that transaction, its
    /// connection belongs to its client and is not disconnected, and its API key belongs to
    /// its client and is not revoked. Returns, per token in order, its connection's customer
    /// id when it was recorded and `None` when it was refused.
    async fn record_tokens_issued(&self, batch: &[IssuedToken]) -> Result<Vec<Option<String>>, StoreError>;
    async fn find_issued_token(&self, jti: &TokenId) -> Result<Option<IssuedToken>, StoreError>;
}
}

/// Implements [`crate::storage::IssuanceStore`] for a backend.
macro_rules! issuance {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl $crate::storage::IssuanceStore for $store {
            async fn record_tokens_issued(&self, batch: &[IssuedToken]) -> Result<Vec<Option<String>>, StoreError> {
                // One statement per up to 512 tokens decides and records them together, so a
                // stale read can never let a token through.
                let mut live = std::collections::HashMap::with_capacity(batch.len());
                for chunk in batch.chunks(MAX_ISSUANCE_ROWS) {
                    let padded = chunk.len().next_power_of_two();
                    let mut q = sqlx::query(<$store as $crate::storage::sql::SqlBackend>::issuance_sql(padded));
                    for t in chunk {
                        q = q.bind(&t.jti).bind(&t.connection_id).bind(&t.client_id);
                        q = q.bind(&t.api_key_id).bind(&t.kid).bind(t.issued_at).bind(t.expires_at);
                    }
                    for _ in chunk.len()..padded {
                        q = q.bind(None::<&str>).bind(None::<&str>).bind(None::<&str>).bind(None::<&str>);
                        q = q.bind(None::<&str>).bind(None::<i64>).bind(None::<i64>);
                    }
                    for row in self.issue(q).await? {
                        let row: &DbRow = &row;
                        let jti: String = row.try_get("jti").map_err(map_err)?;
                        live.insert(jti, row.try_get::<String, _>("customer_id").map_err(map_err)?);
                    }
                }
                Ok(batch.iter().map(|t| live.remove(t.jti.as_str())).collect())
            }

            async fn find_issued_token(&self, jti: &TokenId) -> Result<Option<IssuedToken>, StoreError> {
                sqlx::query_as(&format!("SELECT {ISSUED_SELECT} FROM issued_tokens WHERE jti = $1"))
                    .bind(jti)
                    .fetch_optional(self.pool())
                    .await
                    .map_err(map_err)
            }
        }
    };
}

pub(crate) use issuance;
