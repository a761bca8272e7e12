//! Partner apps: which OAuth clients of a trusted authorization server may act for which
//! tessera client (see [`crate::domain::partner`]).
use super::core::Partners;
use super::{Actor, CoreError, audit_entry};
use crate::domain::ids::ClientId;
use crate::domain::partner::{MAX_PARTNER_TEXT, PartnerGrant};
use crate::service::{Invalid, Missing};
use crate::storage::StoreError;

impl Partners<'_> {
    /// Allows the partner app `partner_client_id` of `issuer` to act for `client`, from now
    /// until the grant is revoked.
    pub async fn allow(
        &self,
        actor: Actor<'_>,
        issuer: &str,
        partner_client_id: &str,
        client: &ClientId,
        now: i64,
    ) -> Result<PartnerGrant, CoreError> {
        let store = self.core.store();
        let issuer = issuer.trim();
        let partner_client_id = partner_client_id.trim();
        let url = url::Url::parse(issuer).ok().filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
        if url.is_none() || issuer.len() > MAX_PARTNER_TEXT {
            return Err(Invalid::PartnerIssuer { max: MAX_PARTNER_TEXT }.into());
        }
        if partner_client_id.is_empty() || partner_client_id.len() > MAX_PARTNER_TEXT {
            return Err(Invalid::PartnerClientId { max: MAX_PARTNER_TEXT }.into());
        }
        if store.find_client(client).await?.is_none() {
            return Err(Missing::Client(client.clone()).into());
        }
        // The record the partner's requests act through; nobody holds its secret.
        let (key, _secret) = super::keys::new_key(client, now);
        let grant = PartnerGrant {
            id: crate::domain::ids::ordered_id(),
            issuer: issuer.to_owned(),
            partner_client_id: partner_client_id.to_owned(),
            client_id: client.clone(),
            api_key_id: key.id.clone(),
            created_at: now,
            revoked_at: None,
        };
        let mut work = store.begin_work().await?;
        work.insert_api_key(&key).await?;
        match work.insert_partner_grant(&grant).await {
            Err(StoreError::Conflict(_)) => {
                return Err(Invalid::PartnerExists {
                    partner: partner_client_id.to_owned(),
                    issuer: issuer.to_owned(),
                    client: client.clone(),
                }
                .into());
            }
            other => other?,
        }
        if let Some(entry) = audit_entry(actor, "partner.allow", &describe(&grant), now) {
            work.record_audit(&entry).await?;
        }
        work.commit().await?;
        Ok(grant)
    }

    /// Revokes a grant: the partner's tokens are refused for that client from now on, on every
    /// replica. Revoking a revoked grant changes nothing.
    pub async fn revoke(&self, actor: Actor<'_>, id: &str, now: i64) -> Result<PartnerGrant, CoreError> {
        let store = self.core.store();
        let mut work = store.begin_work().await?;
        let Some(mut grant) = work.find_partner_grant(id).await? else {
            return Err(Missing::PartnerGrant(id.to_owned()).into());
        };
        // The grant's credential record first: token issuance that already checked it finishes,
        // and none passes after. The first revocation stays.
        if let Some(mut key) = work.lock_api_key(&grant.api_key_id).await? {
            key.revoked_at = key.revoked_at.or(Some(now));
            work.save_api_key(&key).await?;
        }
        grant.revoked_at = grant.revoked_at.or(Some(now));
        work.save_partner_grant(&grant).await?;
        if let Some(entry) = audit_entry(actor, "partner.revoke", &describe(&grant), now) {
            work.record_audit(&entry).await?;
        }
        work.commit().await?;
        Ok(grant)
    }

    /// Every grant, live and revoked, oldest first.
    pub async fn list(&self) -> Result<Vec<PartnerGrant>, CoreError> {
        let store = self.core.store();
        Ok(store.list_partner_grants().await?)
    }

    /// The live grant of a partner for a client.
    pub async fn find(
        &self,
        issuer: &str,
        partner_client_id: &str,
        client: &ClientId,
    ) -> Result<Option<PartnerGrant>, CoreError> {
        let store = self.core.store();
        Ok(store.find_partner_grant(issuer, partner_client_id, client).await?)
    }
}

/// How the audit log names a grant: which partner, of which issuer, for which client.
fn describe(grant: &PartnerGrant) -> String {
    format!("{} ({} of {}) for client {}", grant.id, grant.partner_client_id, grant.issuer, grant.client_id)
}
