//! The retailer catalogue.
use super::{Actor, CoreError, audit};
use crate::domain::retailer::{Retailer, RetailerName, is_retailer_id};
use crate::storage::Store;

/// Adds a retailer, or renames one already there; returns it and whether it was new.
pub async fn put(
    store: &dyn Store,
    actor: Actor<'_>,
    retailer_id: &str,
    name: &str,
    now: i64,
) -> Result<(Retailer, bool), CoreError> {
    if !is_retailer_id(retailer_id) {
        return Err(CoreError::Invalid(format!("retailer id {retailer_id:?}: use 1 to 26 of a-z A-Z 0-9 _ -")));
    }
    let name = RetailerName::parse(name).map_err(CoreError::Invalid)?;
    let retailer = Retailer { retailer_id: retailer_id.to_owned(), name: name.into_inner(), created_at: now };
    let added = store.put_retailer(&retailer).await?;
    audit(store, actor, "retailer.put", retailer_id, now).await?;
    Ok((retailer, added))
}

/// Takes a retailer out of the catalogue. Its connections and their purchases stay; the
/// connector's new purchases for them are refused until it is added again.
pub async fn remove(store: &dyn Store, actor: Actor<'_>, retailer_id: &str, now: i64) -> Result<(), CoreError> {
    if !store.remove_retailer(retailer_id).await? {
        return Err(CoreError::NotFound(format!("no retailer {retailer_id:?} in the catalogue")));
    }
    audit(store, actor, "retailer.remove", retailer_id, now).await?;
    Ok(())
}

/// The catalogue.
pub async fn list(store: &dyn Store) -> Result<Vec<Retailer>, CoreError> {
    Ok(store.list_retailers().await?)
}

/// One retailer of the catalogue.
pub async fn find(store: &dyn Store, retailer_id: &str) -> Result<Option<Retailer>, CoreError> {
    Ok(store.find_retailer(retailer_id).await?)
}
