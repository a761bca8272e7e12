//! Partner grants: which partner apps may act for which client.
#[allow(unused_imports)]
use crate::storage::vocabulary::*;

store_trait! {
/// Partner grants: which partner apps may act for which client.
pub trait PartnerStore {
    /// Records a grant and its credential record in one transaction. `Conflict` when the
    /// partner already has a live grant for that client.
    async fn create_partner_grant(&self, grant: &PartnerGrant, key: &ApiKeyRecord) -> Result<(), StoreError>;
    /// The live grant of partner `partner_client_id` of `issuer` for `client`.
    async fn find_partner_grant(
        &self,
        issuer: &str,
        partner_client_id: &str,
        client: &ClientId,
    ) -> Result<Option<PartnerGrant>, StoreError>;
    /// Every grant, live and revoked, oldest first.
    async fn list_partner_grants(&self) -> Result<Vec<PartnerGrant>, StoreError>;
    /// Revokes a grant and its credential record (idempotent: the first time stays), waiting
    /// for token issuance that already checked the record. `NotFound` when there is none.
    async fn revoke_partner_grant(&self, id: &str, at: i64) -> Result<PartnerGrant, StoreError>;
}
}

/// Implements [`crate::storage::PartnerStore`] for a backend.
macro_rules! partners {
    ($store:ty) => {
        const PARTNER_COLUMNS: &str = "id, issuer, partner_client_id, client_id, api_key_id, created_at, revoked_at";

        #[async_trait::async_trait]
        impl $crate::storage::PartnerStore for $store {
            async fn create_partner_grant(
                &self,
                grant: &$crate::domain::partner::PartnerGrant,
                key: &ApiKeyRecord,
            ) -> Result<(), StoreError> {
                let mut tx = self.begin_write(WriteLock::None).await?;
                insert_api_key(&mut *tx, key).await?;
                sqlx::query(&format!("INSERT INTO partner_grants ({PARTNER_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"))
                    .bind(&grant.id)
                    .bind(&grant.issuer)
                    .bind(&grant.partner_client_id)
                    .bind(&grant.client_id)
                    .bind(&grant.api_key_id)
                    .bind(grant.created_at)
                    .bind(grant.revoked_at)
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?;
                tx.commit().await.map_err(map_err)?;
                Ok(())
            }

            async fn find_partner_grant(
                &self,
                issuer: &str,
                partner_client_id: &str,
                client: &ClientId,
            ) -> Result<Option<$crate::domain::partner::PartnerGrant>, StoreError> {
                sqlx::query_as(&format!(
                    "SELECT {PARTNER_COLUMNS} FROM partner_grants
                     WHERE issuer = $1 AND partner_client_id = $2 AND client_id = $3 AND revoked_at IS NULL"
                ))
                .bind(issuer)
                .bind(partner_client_id)
                .bind(client)
                .fetch_optional(self.pool())
                .await
                .map_err(map_err)
            }

            async fn list_partner_grants(&self) -> Result<Vec<$crate::domain::partner::PartnerGrant>, StoreError> {
                sqlx::query_as(&format!("SELECT {PARTNER_COLUMNS} FROM partner_grants ORDER BY id"))
                    .fetch_all(self.pool())
                    .await
                    .map_err(map_err)
            }

            async fn revoke_partner_grant(
                &self,
                id: &str,
                at: i64,
            ) -> Result<$crate::domain::partner::PartnerGrant, StoreError> {
                let mut tx = self.begin_write(WriteLock::None).await?;
                let key: String = sqlx::query_scalar("SELECT api_key_id FROM partner_grants WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(map_err)?
                    .ok_or(StoreError::NotFound)?;
                // Waits for issuance statements that already checked this record (see `issuance_sql`).
                sqlx::query(&format!(
                    "SELECT id FROM api_keys WHERE id = $1{}",
                    <$store as $crate::storage::sql::SqlBackend>::FOR_UPDATE
                ))
                .bind(&key)
                .fetch_optional(&mut *tx)
                .await
                .map_err(map_err)?;
                sqlx::query("UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1")
                    .bind(&key)
                    .bind(at)
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?;
                let grant = sqlx::query_as(&format!(
                    "UPDATE partner_grants SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1 RETURNING {PARTNER_COLUMNS}"
                ))
                .bind(id)
                .bind(at)
                .fetch_one(&mut *tx)
                .await
                .map_err(map_err)?;
                tx.commit().await.map_err(map_err)?;
                Ok(grant)
            }
        }
    };
}

pub(crate) use partners;
