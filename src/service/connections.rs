//! Connections, each owned by one client.
use super::CoreError;
use crate::domain::connection::{Connection, ConnectionStatus, NewConnection};
use crate::domain::ids::{ApiKeyId, ClientId, ConnectionId};
use crate::storage::{Change, Store};

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
