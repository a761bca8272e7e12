//! The retailer catalogue.
use crate::domain::retailer::Retailer;
use crate::storage::StoreError;

store_trait! {
/// The retailer catalogue.
pub trait RetailerStore {
    /// Every catalogued retailer, by id.
    async fn list_retailers(&self) -> Result<Vec<Retailer>, StoreError>;
    async fn find_retailer(&self, id: &str) -> Result<Option<Retailer>, StoreError>;
    /// Adds a retailer, or renames one already there; returns whether it was new.
    async fn put_retailer(&self, retailer: &Retailer) -> Result<bool, StoreError>;
    /// Takes a retailer out of the catalogue; `false` when it was not in it.
    async fn remove_retailer(&self, id: &str) -> Result<bool, StoreError>;
}
}

/// Implements [`crate::storage::RetailerStore`] for a backend.
macro_rules! retailers {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl $crate::storage::RetailerStore for $store {
            async fn list_retailers(&self) -> Result<Vec<$crate::domain::retailer::Retailer>, StoreError> {
                sqlx::query_as("SELECT retailer_id, name, created_at FROM retailers ORDER BY retailer_id")
                    .fetch_all(self.pool())
                    .await
                    .map_err(map_err)
            }

            async fn find_retailer(&self, id: &str) -> Result<Option<$crate::domain::retailer::Retailer>, StoreError> {
                sqlx::query_as("SELECT retailer_id, name, created_at FROM retailers WHERE retailer_id = $1")
                    .bind(id)
                    .fetch_optional(self.pool())
                    .await
                    .map_err(map_err)
            }

            async fn put_retailer(&self, r: &$crate::domain::retailer::Retailer) -> Result<bool, StoreError> {
                let mut tx = self.begin_write(WriteLock::None).await?;
                let inserted = sqlx::query(
                    "INSERT INTO retailers (retailer_id, name, created_at) VALUES ($1, $2, $3)
                     ON CONFLICT (retailer_id) DO NOTHING",
                )
                .bind(&r.retailer_id)
                .bind(&r.name)
                .bind(r.created_at)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?
                .rows_affected()
                    == 1;
                if !inserted {
                    sqlx::query("UPDATE retailers SET name = $2 WHERE retailer_id = $1")
                        .bind(&r.retailer_id)
                        .bind(&r.name)
                        .execute(&mut *tx)
                        .await
                        .map_err(map_err)?;
                }
                tx.commit().await.map_err(map_err)?;
                Ok(inserted)
            }

            async fn remove_retailer(&self, id: &str) -> Result<bool, StoreError> {
                let done = sqlx::query("DELETE FROM retailers WHERE retailer_id = $1")
                    .bind(id)
                    .execute(self.pool())
                    .await
                    .map_err(map_err)?;
                Ok(done.rows_affected() > 0)
            }
        }
    };
}

pub(crate) use retailers;
