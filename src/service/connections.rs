//! Connections, each owned by one client.
use super::core::Connections;
use serde_json::json;

use super::{Actor, CoreError, audit_entry};
use crate::domain::connection::{Connection, ConnectionPatch, ConnectionStatus, NewConnection};
use crate::domain::event::{Event, NewActivity};
use crate::domain::ids::{ApiKeyId, ClientId, ConnectionId, ConnectorId, ordered_id};
use crate::domain::operator::ConnectionSearch;
use crate::domain::webhook::{EventType, OutboxEvent};
use crate::storage::{Change, StatusChange, Work};

impl Connections<'_> {
    /// Makes a connection of `client` for one of its customers, `initialized`, with its
    /// `created` activity event (and webhook events) written in the same transaction; `by` is
    /// the acting API key.
    pub async fn create(
        &self,
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
        self.record_new(&connection, &Change::by(now, by)).await?;
        Ok(connection)
    }

    /// Writes a new connection with its `created` activity entry and webhook event.
    pub async fn record_new(&self, connection: &Connection, change: &Change) -> Result<(), CoreError> {
        let store = self.core.store();
        let mut work = store.begin_work().await?;
        insert(work.as_mut(), connection, change, None).await?;
        work.commit().await?;
        Ok(())
    }

    /// `client`'s connections for one of its customers.
    pub async fn list(&self, client: &ClientId, customer: &str) -> Result<Vec<Connection>, CoreError> {
        let store = self.core.store();
        Ok(store.list_connections(client, customer).await?)
    }

    /// One of `client`'s connections; another client's is answered like a missing one.
    pub async fn find(&self, client: &ClientId, id: &ConnectionId) -> Result<Option<Connection>, CoreError> {
        let store = self.core.store();
        Ok(store.find_connection(client, id).await?)
    }

    /// Any client's connection, for the connector and the console, which act for every client.
    pub async fn find_any(&self, id: &ConnectionId) -> Result<Option<Connection>, CoreError> {
        let store = self.core.store();
        Ok(store.find_any_connection(id).await?)
    }

    /// Connections matching `search`, newest first, `limit` of them older than `before`.
    pub async fn search(
        &self,
        search: &ConnectionSearch,
        before: Option<&ConnectionId>,
        limit: u32,
    ) -> Result<Vec<Connection>, CoreError> {
        let store = self.core.store();
        Ok(store.search_connections(search, before, limit).await?)
    }

    /// Applies `patch` to one of `client`'s connections, recorded as done by the key `by`;
    /// `None` when the client has no such connection. The connection is locked while it is read
    /// and written, so concurrent patches each apply whole. A patch that moves the status
    /// records the move (and, into `disconnected`, revokes every token of the connection).
    pub async fn update(
        &self,
        client: &ClientId,
        by: &ApiKeyId,
        id: &ConnectionId,
        patch: &ConnectionPatch,
        now: i64,
    ) -> Result<Option<Connection>, CoreError> {
        self.apply_patch(client, id, patch, &Change::by(now, by)).await
    }

    /// [`update`] for any change: `None` when `client` has no such connection.
    pub async fn apply_patch(
        &self,
        client: &ClientId,
        id: &ConnectionId,
        patch: &ConnectionPatch,
        change: &Change,
    ) -> Result<Option<Connection>, CoreError> {
        let store = self.core.store();
        let now = change.at;
        let mut work = store.begin_work().await?;
        let Some(mut c) = work.lock_connection(id).await?.filter(|c| &c.client_id == client) else {
            return Ok(None);
        };
        let from = c.status;
        if let Some(to) = patch.status.filter(|to| *to != from && !from.can_move_to(*to)) {
            return Err(CoreError::Lifecycle { from, to });
        }
        if let Some(customer_id) = &patch.customer_id {
            c.customer_id.clone_from(customer_id);
        }
        if let Some(email) = &patch.email {
            c.email.clone_from(email);
        }
        if let Some(mobile) = &patch.mobile {
            c.mobile.clone_from(mobile);
        }
        c.status = patch.status.unwrap_or(c.status);
        c.updated_at = now;
        work.save_connection(&c).await?;
        let fields: Vec<&str> = [
            ("customer_id", patch.customer_id.is_some()),
            ("email", patch.email.is_some()),
            ("mobile", patch.mobile.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, set)| set.then_some(name))
        .collect();
        if !fields.is_empty() {
            work.append_activity(&activity(&c, "updated", change, json!({"fields": fields}))).await?;
        }
        if from != c.status {
            record_move(work.as_mut(), &c, from, None, None, change).await?;
        }
        work.commit().await?;
        Ok(Some(c))
    }

    /// Deletes one of `client`'s connections, with its purchases, revoking its tokens; whether
    /// there was one.
    pub async fn delete(
        &self,
        client: &ClientId,
        by: &ApiKeyId,
        id: &ConnectionId,
        now: i64,
    ) -> Result<bool, CoreError> {
        self.remove(client, id, &Change::by(now, by)).await
    }

    /// [`delete`] for any change: whether `client` had such a connection.
    pub async fn remove(&self, client: &ClientId, id: &ConnectionId, change: &Change) -> Result<bool, CoreError> {
        let store = self.core.store();
        let now = change.at;
        let mut work = store.begin_work().await?;
        let Some(c) = work.lock_connection(id).await?.filter(|c| &c.client_id == client) else {
            return Ok(false);
        };
        work.delete_connection(id).await?;
        let revoked = work.revoke_tokens(client, id, now).await?;
        work.delete_purchases(id).await?;
        work.append_activity(&activity(&c, "deleted", change, json!({"tokens_revoked": revoked}))).await?;
        work.enqueue(&OutboxEvent::about(&c, EventType::ConnectionDeleted, now)).await?;
        work.commit().await?;
        Ok(true)
    }

    /// The connector reports a connection's status: moved when the lifecycle allows it, with its
    /// activity event and webhook events.
    pub async fn report_status(
        &self,
        connector: &ConnectorId,
        id: &ConnectionId,
        to: ConnectionStatus,
        reason: Option<&str>,
        now: i64,
    ) -> Result<StatusChange, CoreError> {
        let store = self.core.store();
        let mut work = store.begin_work().await?;
        let moved = move_status(work.as_mut(), id, to, reason, &Change::by_connector(now, connector)).await?;
        work.commit().await?;
        Ok(moved)
    }

    /// An operator disconnects a connection: its live tokens are revoked and its client's
    /// webhooks told. Audited, in the same transaction, only when it moved (disconnecting twice
    /// changes nothing).
    pub async fn disconnect(&self, actor: Actor<'_>, id: &ConnectionId, now: i64) -> Result<StatusChange, CoreError> {
        let store = self.core.store();
        let reason = match actor {
            Actor::Operator(o) => format!("disconnected by operator {} in the console", o.name),
            _ => "disconnected".to_owned(),
        };
        let mut work = store.begin_work().await?;
        let moved =
            move_status(work.as_mut(), id, ConnectionStatus::Disconnected, Some(&reason), &Change::at(now)).await?;
        if let (StatusChange::Moved { .. }, Some(entry)) =
            (&moved, audit_entry(actor, "connection.disconnect", id.as_str(), now))
        {
            work.record_audit(&entry).await?;
        }
        work.commit().await?;
        Ok(moved)
    }

    /// Up to `limit` of a connection's activity events, newest first, older than `before`.
    pub async fn events(
        &self,
        client: &ClientId,
        id: &ConnectionId,
        before: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Event>, CoreError> {
        let store = self.core.store();
        Ok(store.list_events(client, id, before, limit).await?)
    }

    /// A connection's whole status history, newest first: its `created` and `status_changed`
    /// events (a connection changes status a handful of times; at most about a thousand are read).
    pub async fn status_history(&self, connection: &Connection) -> Result<Vec<Event>, CoreError> {
        let store = self.core.store();
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
}

/// A new connection, its `created` entry (saying `via` what, when not the API) and webhook
/// event, within `work`.
pub(super) async fn insert(
    work: &mut dyn Work,
    connection: &Connection,
    change: &Change,
    via: Option<&str>,
) -> Result<(), CoreError> {
    work.insert_connection(connection).await?;
    let mut data = json!({"retailer_id": connection.retailer_id, "status": connection.status.as_str()});
    if let Some(via) = via {
        data["via"] = json!(via);
    }
    work.append_activity(&activity(connection, "created", change, data)).await?;
    work.enqueue(&OutboxEvent::about(connection, EventType::ConnectionCreated, change.at)).await?;
    Ok(())
}

/// Moves a locked connection to `to` within `work`, recorded as done `via` what (when not
/// the API), with the reason given.
pub(super) async fn move_to(
    work: &mut dyn Work,
    c: &mut Connection,
    to: ConnectionStatus,
    reason: Option<&str>,
    via: Option<&str>,
    change: &Change,
) -> Result<(), CoreError> {
    let from = c.status;
    c.status = to;
    c.updated_at = change.at;
    work.save_connection(c).await?;
    record_move(work, c, from, reason, via, change).await
}

/// Moves any client's connection to `to` as the lifecycle allows, within `work`.
async fn move_status(
    work: &mut dyn Work,
    id: &ConnectionId,
    to: ConnectionStatus,
    reason: Option<&str>,
    change: &Change,
) -> Result<StatusChange, CoreError> {
    let Some(mut c) = work.lock_connection(id).await? else { return Ok(StatusChange::NotFound) };
    let from = c.status;
    if from == to {
        return Ok(StatusChange::Unchanged(c));
    }
    if !from.can_move_to(to) {
        return Ok(StatusChange::Refused { from, to });
    }
    move_to(work, &mut c, to, reason, None, change).await?;
    Ok(StatusChange::Moved { from, connection: c })
}

/// What a move of `c` from `from` to its status leaves: into `disconnected`, every token of
/// the connection revoked; a `status_changed` entry; the webhook event of the new status.
async fn record_move(
    work: &mut dyn Work,
    c: &Connection,
    from: ConnectionStatus,
    reason: Option<&str>,
    via: Option<&str>,
    change: &Change,
) -> Result<(), CoreError> {
    let mut data = json!({"from": from.as_str(), "to": c.status.as_str()});
    if let Some(via) = via {
        data["via"] = json!(via);
    }
    if let Some(reason) = reason {
        data["reason"] = json!(reason);
    }
    if c.status == ConnectionStatus::Disconnected {
        data["tokens_revoked"] = work.revoke_tokens(&c.client_id, &c.id, change.at).await?.into();
    }
    work.append_activity(&activity(c, "status_changed", change, data)).await?;
    if let Some(kind) = EventType::for_status(c.status) {
        work.enqueue(&OutboxEvent::about(c, kind, change.at)).await?;
    }
    Ok(())
}

/// An entry of `c`'s activity log for `change`, naming the connector when it made it.
fn activity(c: &Connection, kind: &'static str, change: &Change, data: serde_json::Value) -> NewActivity {
    entry(&c.id, &c.client_id, kind, change, data)
}

/// An entry of a connection's activity log for `change`, naming the connector when it made it.
pub(super) fn entry(
    connection: &ConnectionId,
    client: &ClientId,
    kind: &'static str,
    change: &Change,
    mut data: serde_json::Value,
) -> NewActivity {
    if let Some(connector) = &change.connector {
        data["connector_id"] = json!(connector);
    }
    NewActivity {
        id: ordered_id(),
        connection_id: connection.clone(),
        client_id: client.clone(),
        kind,
        at: change.at,
        api_key_id: change.actor.clone(),
        data,
    }
}
