//! Purchases: the connector writes a connection's purchases; its client reads them.
use super::CoreError;
use super::core::Purchases;
use crate::domain::connection::ConnectionStatus;
use crate::domain::ids::{ClientId, ConnectionId};
use crate::domain::purchase::{Purchase, PurchaseSummary};
use crate::domain::webhook::{EventType, OutboxEvent, purchase_payload};

/// What writing a batch of purchases did.
#[derive(Debug)]
pub enum Upserted {
    /// Written: the ids of the purchases created (announced) and of those replaced, in order.
    Written { created: Vec<String>, replaced: Vec<String> },
    /// No such connection.
    NoConnection,
    /// The connection is disconnected: it takes no purchases.
    Disconnected,
    /// The connection's retailer (named) is not in the catalogue.
    NotCatalogued(String),
}

impl Purchases<'_> {
    /// Up to `limit` of a connection's purchases, newest first, after the purchase `after`;
    /// `None` when `after` names no purchase of the connection.
    pub async fn page(
        &self,
        client: &ClientId,
        connection: &ConnectionId,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Option<Vec<PurchaseSummary>>, CoreError> {
        let store = self.core.store();
        Ok(store.list_purchases(client, connection, after, limit).await?)
    }

    /// One purchase of one of `client`'s connections, with its items.
    pub async fn find(
        &self,
        client: &ClientId,
        connection: &ConnectionId,
        purchase_id: &str,
    ) -> Result<Option<Purchase>, CoreError> {
        let store = self.core.store();
        Ok(store.find_purchase(client, connection, purchase_id).await?)
    }

    /// Writes `batch` (already validated) to the connection `id` in one transaction: each is
    /// created, or replaced when the connection already has its `purchase_id`. Purchases are
    /// taken only for a live connection of a catalogued retailer.
    pub async fn upsert(&self, id: &ConnectionId, batch: Vec<Purchase>, now: i64) -> Result<Upserted, CoreError> {
        let store = self.core.store();
        let Some(connection) = store.find_any_connection(id).await? else { return Ok(Upserted::NoConnection) };
        if connection.status == ConnectionStatus::Disconnected {
            return Ok(Upserted::Disconnected);
        }
        if store.find_retailer(&connection.retailer_id).await?.is_none() {
            return Ok(Upserted::NotCatalogued(connection.retailer_id));
        }
        let batch: Vec<Purchase> = batch
            .into_iter()
            .map(|p| Purchase { connection_id: id.clone(), client_id: connection.client_id.clone(), ..p })
            .collect();
        let mut work = store.begin_work().await?;
        // Read again, locked, in this transaction: purchases are never written for a connection
        // deleted or disconnected a moment ago (answered as a fresh request would be).
        let connection = match work.lock_connection(id).await? {
            None => return Ok(Upserted::NoConnection),
            Some(c) if c.status == ConnectionStatus::Disconnected => return Ok(Upserted::Disconnected),
            Some(c) => c,
        };
        let mut was_new = Vec::with_capacity(batch.len());
        for p in &batch {
            // A new purchase is announced; a known one is replaced, and announced to no one.
            let new = work.insert_purchase(p, now).await?;
            if new {
                let payload = purchase_payload(&connection, p);
                work.enqueue(&OutboxEvent::with_payload(&connection, EventType::PurchaseCreated, now, payload)).await?;
            } else {
                work.update_purchase(p, now).await?;
            }
            was_new.push(new);
        }
        work.commit().await?;
        let (mut created, mut replaced) = (Vec::new(), Vec::new());
        for (p, new) in batch.into_iter().zip(was_new) {
            if new { created.push(p.purchase_id) } else { replaced.push(p.purchase_id) }
        }
        Ok(Upserted::Written { created, replaced })
    }
}
