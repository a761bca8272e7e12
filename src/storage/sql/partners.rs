//! Partner grants: which partner apps may act for which client.
use crate::domain::ids::ClientId;
use crate::domain::partner::PartnerGrant;
use crate::storage::StoreError;

store_trait! {
/// Partner grants: which partner apps may act for which client.
pub trait PartnerStore {
    /// The live grant of partner `partner_client_id` of `issuer` for `client`.
    async fn find_partner_grant(
        &self,
        issuer: &str,
        partner_client_id: &str,
        client: &ClientId,
    ) -> Result<Option<PartnerGrant>, StoreError>;
    /// Every grant, live and revoked, oldest first.
    async fn list_partner_grants(&self) -> Result<Vec<PartnerGrant>, StoreError>;
}
}

/// Implements [`crate::storage::PartnerStore`] for a backend.
macro_rules! partners {
    ($store:ty) => {
        const PARTNER_COLUMNS: &str = "id, issuer, partner_client_id, client_id, api_key_id, created_at, revoked_at";

        #[async_trait::async_trait]
        impl $crate::storage::PartnerStore for $store {
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
        }
    };
}

pub(crate) use partners;
