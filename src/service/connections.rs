//! Connections, each owned by one client.
use super::{Actor, CoreError, audit};
use crate::domain::connection::{Connection, ConnectionPatch, ConnectionStatus, NewConnection};
use crate::domain::event::Event;
use crate::domain::ids::{ApiKeyId, ClientId, ConnectionId, ConnectorId};
use crate::domain::operator::ConnectionSearch;
use crate::storage::{Change, StatusChange, Store};

/// Makes a connection of `client` for one of its customers, `initialized`, with its
/// `created` activity event (and webhook events) written in the same transaction; `by` is
/// the acting API key.
pub async fn create(
    store: &dyn Store,
    client: &ClientId,
    by: &ApiKeyId,
    new: NewConnection,
    now: i64,
) -> Result<Connection, CoreError> {
    let connection = Connection {
        id: ConnectionId::generate(),
        client_id: client.clone(),
        customer_id: new.customer_id,
        retailer_id: new.retailer_id,
        email: new.email,
        mobile: new.mobile,
        status: ConnectionStatus::Initialized,
        created_at: now,
        updated_at: now,
    };
    store.create_connection(&connection, &Change::by(now, by)).await?;
    Ok(connection)
}

/// `client`'s connections for one of its customers.
pub async fn list(store: &dyn Store, client: &ClientId, customer: &str) -> Result<Vec<Connection>, CoreError> {
    Ok(store.list_connections(client, customer).await?)
}

/// One of `client`'s connections; another client's is answered like a missing one.
pub async fn find(store: &dyn Store, client: &ClientId, id: &ConnectionId) -> Result<Option<Connection>, CoreError> {
    Ok(store.find_connection(client, id).await?)
}

/// Any client's connection, for the connector and the console, which act for every client.
pub async fn find_any(store: &dyn Store, id: &ConnectionId) -> Result<Option<Connection>, CoreError> {
    Ok(store.find_any_connection(id).await?)
}

/// Connections matching `search`, newest first, `limit` of them older than `before`.
pub async fn search(
    store: &dyn Store,
    search: &ConnectionSearch,
    before: Option<&ConnectionId>,
    limit: u32,
) -> Result<Vec<Connection>, CoreError> {
    Ok(store.search_connections(search, before, limit).await?)
}

/// Applies `patch` to one of `client`'s connections, recorded as done by the key `by`;
/// `None` when the client has no such connection.
pub async fn update(
    store: &dyn Store,
    client: &ClientId,
    by: &ApiKeyId,
    id: &ConnectionId,
    patch: &ConnectionPatch,
    now: i64,
) -> Result<Option<Connection>, CoreError> {
    Ok(store.update_connection(client, id, patch, &Change::by(now, by)).await?)
}

/// Deletes one of `client`'s connections (its tokens with it); whether there was one.
pub async fn delete(
    store: &dyn Store,
    client: &ClientId,
    by: &ApiKeyId,
    id: &ConnectionId,
    now: i64,
) -> Result<bool, CoreError> {
    Ok(store.delete_connection(client, id, &Change::by(now, by)).await?)
}

/// The connector reports a connection's status: moved when the lifecycle allows it, with its
/// activity event and webhook events.
pub async fn report_status(
    store: &dyn Store,
    connector: &ConnectorId,
    id: &ConnectionId,
    to: ConnectionStatus,
    reason: Option<&str>,
    now: i64,
) -> Result<StatusChange, CoreError> {
    Ok(store.set_connection_status(id, to, reason, &Change::by_connector(now, connector)).await?)
}

/// An operator disconnects a connection: its live tokens are revoked and its client's
/// webhooks told. Audited only when it moved (disconnecting twice changes nothing).
pub async fn disconnect(
    store: &dyn Store,
    actor: Actor<'_>,
    id: &ConnectionId,
    now: i64,
) -> Result<StatusChange, CoreError> {
    let reason = match actor {
        Actor::Operator(o) => format!("disconnected by operator {} in the console", o.name),
        _ => "disconnected".to_owned(),
    };
    let change = Change::at(now);
    let moved = store.set_connection_status(id, ConnectionStatus::Disconnected, Some(&reason), &change).await?;
    if let StatusChange::Moved { .. } = moved {
        audit(store, actor, "connection.disconnect", id.as_str(), now).await?;
    }
    Ok(moved)
}

/// Up to `limit` of a connection's activity events, newest first, older than `before`.
pub async fn events(
    store: &dyn Store,
    client: &ClientId,
    id: &ConnectionId,
    before: Option<&str>,
    limit: u32,
) -> Result<Vec<Event>, CoreError> {
    Ok(store.list_events(client, id, before, limit).await?)
}

/// A connection's whole status history, newest first: its `created` and `status_changed`
/// events (a connection changes status a handful of times; at most about a thousand are read).
pub async fn status_history(store: &dyn Store, connection: &Connection) -> Result<Vec<Event>, CoreError> {
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let batch = store.list_events(&connection.client_id, &connection.id, cursor.as_deref(), 500).await?;
        let done = batch.len() < 500;
        cursor = batch.last().map(|e| e.event_id.clone());
        all.extend(batch.into_iter().filter(|e| e.kind == "created" || e.kind == "status_changed"));
        if done || all.len() > 1000 {
            break;
        }
    }
    Ok(all)
}
