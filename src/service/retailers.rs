//! The retailer catalogue.
use super::core::Retailers;
use super::{Actor, CoreError, audit};
use crate::domain::retailer::{Retailer, RetailerName, is_retailer_id};
use crate::service::{Invalid, Missing};

impl Retailers<'_> {
    /// Adds a retailer, or renames one already there; returns it and whether it was new.
    pub async fn put(
        &self,
        actor: Actor<'_>,
        retailer_id: &str,
        name: &str,
        now: i64,
    ) -> Result<(Retailer, bool), CoreError> {
        let store = self.core.store();
        if !is_retailer_id(retailer_id) {
            return Err(Invalid::RetailerId(retailer_id.to_owned()).into());
        }
        let name = RetailerName::parse(name).map_err(Invalid::Name)?;
        let retailer = Retailer { retailer_id: retailer_id.to_owned(), name: name.into_inner(), created_at: now };
        let added = store.put_retailer(&retailer).await?;
        audit(store, actor, "retailer.put", retailer_id, now).await?;
        Ok((retailer, added))
    }

    /// Takes a retailer out of the catalogue. Its connections and their purchases stay; the
    /// connector's new purchases for them are refused until it is added again.
    pub async fn remove(&self, actor: Actor<'_>, retailer_id: &str, now: i64) -> Result<(), CoreError> {
        let store = self.core.store();
        if !store.remove_retailer(retailer_id).await? {
            return Err(Missing::Retailer(retailer_id.to_owned()).into());
        }
        audit(store, actor, "retailer.remove", retailer_id, now).await?;
        Ok(())
    }

    /// The catalogue.
    pub async fn list(&self) -> Result<Vec<Retailer>, CoreError> {
        let store = self.core.store();
        Ok(store.list_retailers().await?)
    }

    /// One retailer of the catalogue.
    pub async fn find(&self, retailer_id: &str) -> Result<Option<Retailer>, CoreError> {
        let store = self.core.store();
        Ok(store.find_retailer(retailer_id).await?)
    }
}
