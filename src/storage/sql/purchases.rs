//! Each connection's purchases, listed newest first (the connector's batches are written by
//! the core, through the unit of work).
use crate::domain::ids::{ClientId, ConnectionId};
use crate::domain::purchase::{Purchase, PurchaseSummary};
use crate::storage::StoreError;

store_trait! {
/// Each connection's purchases, written by the connector.
pub trait PurchaseStore {
    /// A connection's purchases, newest first (by date, then purchase id, both descending):
    /// at most `limit` of those after the purchase `after`. `None` when `after` names no
    /// purchase of the connection.
    async fn list_purchases(
        &self,
        client: &ClientId,
        connection: &ConnectionId,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Option<Vec<PurchaseSummary>>, StoreError>;
    /// One purchase of a connection of `client`.
    async fn find_purchase(
        &self,
        client: &ClientId,
        connection: &ConnectionId,
        purchase_id: &str,
    ) -> Result<Option<Purchase>, StoreError>;
}
}

/// The columns a listing reads (everything but the items).
pub(crate) const PURCHASE_SUMMARY: &str = "purchase_id, date, total, tax, subtotal, item_count";

/// Implements [`crate::storage::PurchaseStore`] for a backend.
macro_rules! purchases {
    ($store:ty) => {
        fn purchase_from(row: &DbRow) -> Result<$crate::domain::purchase::Purchase, StoreError> {
            let items: String = row.try_get("items").map_err(map_err)?;
            Ok($crate::domain::purchase::Purchase {
                purchase_id: row.try_get("purchase_id").map_err(map_err)?,
                connection_id: row.try_get("connection_id").map_err(map_err)?,
                client_id: row.try_get("client_id").map_err(map_err)?,
                date: row.try_get("date").map_err(map_err)?,
                date_key: row.try_get("date_key").map_err(map_err)?,
                total: row.try_get("total").map_err(map_err)?,
                tax: row.try_get("tax").map_err(map_err)?,
                subtotal: row.try_get("subtotal").map_err(map_err)?,
                item_count: row.try_get("item_count").map_err(map_err)?,
                items: serde_json::from_str(&items).map_err(|e| StoreError::Corrupt($crate::storage::cause(e)))?,
            })
        }

        fn purchase_summary_from(row: &DbRow) -> Result<$crate::domain::purchase::PurchaseSummary, StoreError> {
            Ok($crate::domain::purchase::PurchaseSummary {
                purchase_id: row.try_get("purchase_id").map_err(map_err)?,
                date: row.try_get("date").map_err(map_err)?,
                total: row.try_get("total").map_err(map_err)?,
                tax: row.try_get("tax").map_err(map_err)?,
                subtotal: row.try_get("subtotal").map_err(map_err)?,
                item_count: row.try_get("item_count").map_err(map_err)?,
            })
        }

        #[async_trait::async_trait]
        impl $crate::storage::PurchaseStore for $store {
            async fn list_purchases(
                &self,
                client: &ClientId,
                connection: &ConnectionId,
                after: Option<&str>,
                limit: u32,
            ) -> Result<Option<Vec<$crate::domain::purchase::PurchaseSummary>>, StoreError> {
                use $crate::storage::sql::purchases::PURCHASE_SUMMARY;
                let rows = match after {
                    None => sqlx::query(&format!(
                        "SELECT {PURCHASE_SUMMARY} FROM purchases WHERE connection_id = $1 AND client_id = $2
                         ORDER BY date_key DESC, purchase_id DESC LIMIT $3"
                    ))
                    .bind(connection)
                    .bind(client)
                    .bind(i64::from(limit))
                    .fetch_all(self.pool())
                    .await
                    .map_err(map_err)?,
                    Some(after) => {
                        let cursor: Option<i64> = sqlx::query_scalar(
                            "SELECT date_key FROM purchases WHERE connection_id = $1 AND purchase_id = $2 AND client_id = $3",
                        )
                        .bind(connection)
                        .bind(after)
                        .bind(client)
                        .fetch_optional(self.pool())
                        .await
                        .map_err(map_err)?;
                        let Some(date_key) = cursor else { return Ok(None) };
                        // `date_key <= $3` is the index range both backends seek to; written
                        // only as `(date_key, purchase_id) < (...)` or with an OR, PostgreSQL
                        // scans the connection's whole index from its newest purchase instead.
                        sqlx::query(&format!(
                            "SELECT {PURCHASE_SUMMARY} FROM purchases
                             WHERE connection_id = $1 AND client_id = $2
                               AND date_key <= $3 AND (date_key < $3 OR purchase_id < $4)
                             ORDER BY date_key DESC, purchase_id DESC LIMIT $5"
                        ))
                        .bind(connection)
                        .bind(client)
                        .bind(date_key)
                        .bind(after)
                        .bind(i64::from(limit))
                        .fetch_all(self.pool())
                        .await
                        .map_err(map_err)?
                    }
                };
                rows.iter().map(purchase_summary_from).collect::<Result<Vec<_>, _>>().map(Some)
            }

            async fn find_purchase(
                &self,
                client: &ClientId,
                connection: &ConnectionId,
                purchase_id: &str,
            ) -> Result<Option<$crate::domain::purchase::Purchase>, StoreError> {
                sqlx::query(
                    "SELECT connection_id, purchase_id, client_id, date, date_key, total, tax, subtotal, item_count, items
                     FROM purchases WHERE connection_id = $1 AND purchase_id = $2 AND client_id = $3",
                )
                .bind(connection)
                .bind(purchase_id)
                .bind(client)
                .fetch_optional(self.pool())
                .await
                .map_err(map_err)?
                .as_ref()
                .map(purchase_from)
                .transpose()
            }
        }
    };
}

pub(crate) use purchases;
